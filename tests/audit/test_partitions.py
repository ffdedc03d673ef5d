"""The audit trail by month: partitions, the default partition, audit-partitions, audit-archive."""

import csv
import gzip
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.partitions import (
    Month,
    archive,
    count_csv_rows,
    make_partitions,
    months_from,
)
from app.core.errors import CommandError
from app.db.base import AUDIT_PARTITION_TABLE
from app.db.database import plain_url
from tests.commands import run_cli
from tests.conftest import alembic_config
from tests.factories import create_patient

COLUMNS = [
    "id",
    "at",
    "actor",
    "actor_kind",
    "action",
    "patient_id",
    "client_address",
    "outcome",
    "status_code",
]


def current_month() -> Month:
    return Month.of(datetime.now(UTC))


async def fetch(url: str, statement: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(plain_url(url))
    try:
        return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


async def insert_event(url: str, at: datetime, actor: str = "rivera") -> int:
    """An event written as the service writes one (through audit_events), at `at`."""
    rows = await fetch(
        url,
        "INSERT INTO audit_events (at, actor, actor_kind, action, patient_id, client_address, "
        "outcome, status_code) VALUES ($1, $2, 'staff', 'get_patient', 'p_abc123', "
        "'203.0.113.7', 'success', 200) RETURNING id",
        at,
        actor,
    )
    return int(rows[0]["id"])


async def partition_of(url: str, event_id: int) -> str:
    rows = await fetch(
        url, "SELECT tableoid::regclass::text FROM audit_events WHERE id = $1", event_id
    )
    return str(rows[0][0])


async def partitions(url: str) -> list[str]:
    rows = await fetch(
        url,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'audit_events'::regclass ORDER BY c.relname",
    )
    return [row[0] for row in rows]


async def on_table(url: str, statement: str, table: str) -> list[asyncpg.Record]:
    """`statement` with `{}` for the name of one of the audit trail's tables."""
    assert AUDIT_PARTITION_TABLE.fullmatch(table)
    return await fetch(url, statement.format(table))


async def scalar(url: str, statement: str, *args: Any) -> Any:
    return (await fetch(url, statement, *args))[0][0]


async def table_exists(url: str, name: str) -> bool:
    rows = await fetch(url, "SELECT to_regclass($1) IS NOT NULL", name)
    return bool(rows[0][0])


def middle(month: Month) -> datetime:
    return month.start + timedelta(days=14, hours=12, microseconds=123456)


@pytest.fixture
def fresh_url(empty_database_url: str) -> str:
    """A database of its own, at head: these tests add and remove partitions."""
    command.upgrade(alembic_config(empty_database_url), "head")
    return empty_database_url


# -- months ------------------------------------------------------------------------------------


def test_month_arithmetic_and_names():
    assert Month(2026, 12) + 1 == Month(2027, 1)
    assert Month(2027, 1) + -1 == Month(2026, 12)
    assert Month(2026, 3) + 25 == Month(2028, 4)
    assert str(Month(2026, 7)) == "2026-07"
    assert Month(2026, 7).table == "audit_events_2026_07"
    assert Month(2026, 7).archive_name == "audit_events_2026_07.csv.gz"
    assert Month.of_table("audit_events_2026_07") == Month(2026, 7)
    assert Month.of_table("audit_events_default") is None
    assert Month.of_table("audit_events_2026_13") is None
    assert Month(2026, 12).start == datetime(2026, 12, 1, tzinfo=UTC)
    assert Month(2026, 12).end == datetime(2027, 1, 1, tzinfo=UTC)
    # A moment belongs to its UTC month.
    assert Month.of(datetime(2027, 1, 1, 0, 30, tzinfo=UTC)) == Month(2027, 1)
    assert Month.of(datetime.fromisoformat("2026-12-31T20:30:00-05:00")) == Month(2027, 1)
    assert months_from(Month(2026, 11), Month(2027, 2)) == [
        Month(2026, 11),
        Month(2026, 12),
        Month(2027, 1),
        Month(2027, 2),
    ]
    assert Month.parse("2026-10") == Month(2026, 10)


@pytest.mark.parametrize(
    "value", ["2026-13", "2026-00", "0000-05", "26-10", "2026-1", "2026/10", "", "x"]
)
def test_a_month_is_yyyy_mm(value):
    with pytest.raises(CommandError, match="YYYY-MM"):
        Month.parse(value)


# -- where rows go -----------------------------------------------------------------------------


async def test_the_service_writes_events_into_the_current_months_partition(
    client, engine: AsyncEngine
):
    await create_patient(client)
    async with engine.connect() as connection:
        tables = set(
            (
                await connection.execute(
                    text("SELECT DISTINCT tableoid::regclass::text FROM audit_events")
                )
            ).scalars()
        )
    assert tables == {current_month().table}


async def test_an_event_of_a_month_without_a_partition_lands_in_the_default_one(
    anonymous, database_url
):
    far = datetime(2099, 6, 1, tzinfo=UTC)
    assert await partition_of(database_url, await insert_event(database_url, far)) == (
        "audit_events_default"
    )
    past = middle(current_month() + -40)
    assert await partition_of(database_url, await insert_event(database_url, past)) == (
        "audit_events_default"
    )
    ahead = middle(current_month() + 3)
    assert await partition_of(database_url, await insert_event(database_url, ahead)) == (
        (current_month() + 3).table
    )


async def test_partitions_start_and_end_at_utc_midnight(fresh_url):
    month = current_month() + 1
    last_moment = month.start - timedelta(microseconds=1)
    assert await partition_of(fresh_url, await insert_event(fresh_url, last_moment)) == (
        current_month().table
    )
    assert await partition_of(fresh_url, await insert_event(fresh_url, month.start)) == month.table


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'someone-else'",
        "DELETE FROM audit_events",
        "UPDATE {current} SET outcome = 'success'",
        "DELETE FROM {current}",
        "DELETE FROM {current} WHERE actor = 'rivera'",
        "UPDATE audit_events_default SET actor = 'x'",
        "DELETE FROM audit_events_default",
    ],
)
async def test_every_partition_is_append_only(anonymous, database_url, engine, statement):
    await insert_event(database_url, datetime.now(UTC))
    await insert_event(database_url, datetime(2099, 1, 1, tzinfo=UTC))
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as connection:
            await connection.execute(text(statement.format(current=current_month().table)))
    assert (
        await scalar(database_url, "SELECT count(*) FROM audit_events WHERE actor = 'rivera'") == 2
    )


async def test_a_partition_made_later_is_append_only_too(fresh_url, settings):
    month = current_month() + 6
    await make_partitions(settings, fresh_url, ahead=6)
    await insert_event(fresh_url, middle(month))
    for statement in ("DELETE FROM {}", "UPDATE {} SET actor = 'x'"):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await on_table(fresh_url, statement, month.table)


# -- audit-partitions --------------------------------------------------------------------------


async def test_the_migration_makes_the_current_month_and_three_ahead(fresh_url):
    current = current_month()
    expected = [month.table for month in months_from(current, current + 3)]
    assert await partitions(fresh_url) == [*expected, "audit_events_default"]


async def test_audit_partitions_makes_the_missing_months_once(fresh_url, settings):
    current = current_month()
    report = await make_partitions(settings, fresh_url, ahead=5)
    assert report.created == [current + 4, current + 5]
    assert report.months == months_from(current, current + 5)
    assert (report.moved_rows, report.default.count) == (0, 0)

    again = await make_partitions(settings, fresh_url, ahead=5)
    assert again.created == []
    assert again.months == report.months
    fewer = await make_partitions(settings, fresh_url, ahead=1)
    assert fewer.created == []  # months ahead are never removed
    names = await partitions(fresh_url)
    assert names == [month.table for month in months_from(current, current + 5)] + [
        "audit_events_default"
    ]


async def test_audit_partitions_moves_rows_out_of_the_default_partition(fresh_url, settings):
    current = current_month()
    later = await insert_event(fresh_url, middle(current + 7), actor="later")
    beyond = await insert_event(fresh_url, middle(current + 30), actor="beyond")
    past = await insert_event(fresh_url, middle(current + -14), actor="past")
    for event in (later, beyond, past):
        assert await partition_of(fresh_url, event) == "audit_events_default"
    before = await fetch(fresh_url, "SELECT * FROM audit_events ORDER BY id")

    report = await make_partitions(settings, fresh_url, ahead=7)

    assert report.created == [current + -14, current + 4, current + 5, current + 6, current + 7]
    assert report.moved_rows == 2
    assert await partition_of(fresh_url, later) == (current + 7).table
    assert await partition_of(fresh_url, past) == (current + -14).table
    # A month further ahead than asked for stays in the default partition, and is reported.
    assert await partition_of(fresh_url, beyond) == "audit_events_default"
    assert report.default.count == 1
    assert report.default.first == report.default.last == middle(current + 30)
    # Moved, not changed: the same rows with the same ids, still append-only.
    assert await fetch(fresh_url, "SELECT * FROM audit_events ORDER BY id") == before
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await fetch(fresh_url, "DELETE FROM audit_events_default")
    new = await insert_event(fresh_url, datetime.now(UTC))
    assert new > past


async def test_audit_partitions_remakes_a_missing_default_partition(fresh_url, settings):
    await fetch(fresh_url, "ALTER TABLE audit_events DETACH PARTITION audit_events_default")
    await fetch(fresh_url, "DROP TABLE audit_events_default")
    await make_partitions(settings, fresh_url)
    assert "audit_events_default" in await partitions(fresh_url)
    far = await insert_event(fresh_url, datetime(2099, 1, 1, tzinfo=UTC))
    assert await partition_of(fresh_url, far) == "audit_events_default"


@pytest.fixture
def unpartitioned_url(empty_database_url: str) -> str:
    command.upgrade(alembic_config(empty_database_url), "0005")
    return empty_database_url


async def test_audit_partitions_needs_the_partitioned_table(unpartitioned_url, settings):
    with pytest.raises(CommandError, match="run python -m app migrate"):
        await make_partitions(settings, unpartitioned_url)


async def test_audit_partitions_command(cli_env):
    result = run_cli(cli_env, "audit-partitions", "--ahead", "4")
    assert result.returncode == 0, result.stderr
    assert f"Created {(current_month() + 4).table}." in result.stdout
    assert "The default partition holds no events." in result.stdout
    again = run_cli(cli_env, "audit-partitions", "--ahead", "4")
    assert again.returncode == 0, again.stderr
    assert "No partition was missing." in again.stdout
    refused = run_cli(cli_env, "audit-partitions", "--ahead", "-1")
    assert refused.returncode == 2
    assert "at least 0" in refused.stderr


async def test_audit_partitions_warns_of_events_in_the_default_partition(
    anonymous, cli_env, database_url
):
    await insert_event(database_url, datetime(2099, 1, 1, tzinfo=UTC))
    result = run_cli(cli_env, "audit-partitions")
    assert result.returncode == 0, result.stderr
    assert "warning: the default partition holds 1 event(s) (2099-01-01 00:00" in result.stderr


async def test_migrate_makes_the_partitions_ahead(cli_env, database_url):
    month = current_month() + 3
    assert month.table in await partitions(database_url)
    result = run_cli(cli_env, "migrate")
    assert result.returncode == 0, result.stderr
    assert "Audit partitions: 0 made" in result.stdout


# -- audit-archive -----------------------------------------------------------------------------


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    return tmp_path / "archive"


async def events_of_three_past_months(url: str, settings: Any) -> dict[Month, list[int]]:
    """Events in each of the three months before the current one (their partitions made by
    audit-partitions, which moves them out of the default partition), and in the current one."""
    current = current_month()
    events: dict[Month, list[int]] = {}
    for back in (3, 2, 1, 0):
        month = current + -back
        events[month] = [
            await insert_event(url, middle(month) + timedelta(hours=hour), actor=f"staff-{hour}")
            for hour in range(back + 2)
        ]
    # A name that CSV must quote.
    events[current + -3].append(await insert_event(url, middle(current + -3), actor='a,"b"\nc'))
    await make_partitions(settings, url)
    return events


def read_csv(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as archived:
        return list(csv.DictReader(archived))


async def test_audit_archive_exports_then_drops_each_month_before(fresh_url, settings, archive_dir):
    events = await events_of_three_past_months(fresh_url, settings)
    current = current_month()
    oldest, older, last = current + -3, current + -2, current + -1
    stored = {
        month: await fetch(
            fresh_url, "SELECT * FROM audit_events WHERE id = ANY($1) ORDER BY id", ids
        )
        for month, ids in events.items()
    }
    others_before = await fetch(
        fresh_url, "SELECT * FROM audit_events WHERE at >= $1 ORDER BY id", last.start
    )

    archived = await archive(settings, last, archive_dir, database_url=fresh_url)

    assert [(item.month, item.rows, item.kept_table) for item in archived] == [
        (oldest, len(events[oldest]), False),
        (older, len(events[older]), False),
    ]
    assert sorted(os.listdir(archive_dir)) == [oldest.archive_name, older.archive_name]
    for month in (oldest, older):
        path = archive_dir / month.archive_name
        rows = read_csv(path)
        assert list(rows[0]) == COLUMNS
        expected = [
            {
                **{name: "" if row[name] is None else str(row[name]) for name in COLUMNS},
                "at": row["at"].astimezone(UTC).isoformat(sep=" ").replace("+00:00", "+00"),
            }
            for row in stored[month]
        ]
        assert sorted(rows, key=lambda row: int(row["id"])) == expected
        assert count_csv_rows(path) == len(events[month])
        assert not await table_exists(fresh_url, month.table)
    assert any(row["actor"] == 'a,"b"\nc' for row in read_csv(archive_dir / oldest.archive_name))
    # The rest of the trail is as it was, and still takes new events.
    assert (
        await fetch(fresh_url, "SELECT * FROM audit_events WHERE at >= $1 ORDER BY id", last.start)
        == others_before
    )
    assert (
        await scalar(fresh_url, "SELECT count(*) FROM audit_events WHERE at < $1", last.start) == 0
    )
    assert last.table in await partitions(fresh_url)
    await insert_event(fresh_url, datetime.now(UTC))

    # Again: nothing left to archive, and the files stay as they were.
    files = {name: (archive_dir / name).read_bytes() for name in os.listdir(archive_dir)}
    assert await archive(settings, last, archive_dir, database_url=fresh_url) == []
    assert {name: (archive_dir / name).read_bytes() for name in os.listdir(archive_dir)} == files


async def test_audit_archive_may_keep_the_table(fresh_url, settings, archive_dir):
    events = await events_of_three_past_months(fresh_url, settings)
    oldest = current_month() + -3
    archived = await archive(
        settings, oldest + 1, archive_dir, keep_table=True, database_url=fresh_url
    )
    assert [(item.month, item.kept_table) for item in archived] == [(oldest, True)]
    assert oldest.table not in await partitions(fresh_url)
    kept = await on_table(fresh_url, "SELECT id FROM {} ORDER BY id", oldest.table)
    assert [row["id"] for row in kept] == events[oldest]
    moved = "SELECT count(*) FROM audit_events WHERE id = ANY($1)"
    assert await scalar(fresh_url, moved, events[oldest]) == 0
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await on_table(fresh_url, "DELETE FROM {}", oldest.table)
    # A kept month is no longer a partition: a later run does not archive it again.
    assert await archive(settings, oldest + 1, archive_dir, database_url=fresh_url) == []


async def test_audit_archive_never_overwrites_an_archive(fresh_url, settings, archive_dir):
    events = await events_of_three_past_months(fresh_url, settings)
    oldest = current_month() + -3
    archive_dir.mkdir()
    (archive_dir / oldest.archive_name).write_bytes(b"an earlier archive")
    with pytest.raises(CommandError, match="still a partition"):
        await archive(settings, oldest + 1, archive_dir, database_url=fresh_url)
    assert (archive_dir / oldest.archive_name).read_bytes() == b"an earlier archive"
    assert oldest.table in await partitions(fresh_url)
    kept = await on_table(fresh_url, "SELECT id FROM {} ORDER BY id", oldest.table)
    assert [row["id"] for row in kept] == events[oldest]


async def test_audit_archive_refuses_the_current_month_and_later(fresh_url, settings, archive_dir):
    await insert_event(fresh_url, datetime.now(UTC))
    current = current_month()
    for before in (current + 1, current + 5):
        with pytest.raises(CommandError, match=rf"current month \({current}\)"):
            await archive(settings, before, archive_dir, database_url=fresh_url)
    # Before the current month: every month before it, none of it.
    assert await archive(settings, current, archive_dir, database_url=fresh_url) == []
    assert current.table in await partitions(fresh_url)


async def test_audit_archive_command(cli_env, tmp_path, database_url):
    result = run_cli(cli_env, "audit-archive", "--before", "2001-01", "--output-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "No month partition before 2001-01: nothing to archive."

    for arguments, message in (
        (["--before", "2026/10"], "--before must be a month as YYYY-MM"),
        (["--before", "2026-13"], "--before must be a month as YYYY-MM"),
        (["--before", str(current_month() + 1)], "would archive the current month"),
    ):
        refused = run_cli(cli_env, "audit-archive", *arguments, "--output-dir", str(tmp_path))
        assert refused.returncode == 1
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, refused.stderr
        assert lines[0].startswith("error: ")
        assert message in lines[0]
    assert current_month().table in await partitions(database_url)
    missing = run_cli(cli_env, "audit-archive", "--output-dir", str(tmp_path))
    assert missing.returncode == 2
    assert "--before" in missing.stderr


async def test_audit_archive_needs_a_directory_it_can_make(settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(CommandError, match="Cannot create --output-dir"):
        await archive(settings, current_month(), blocker / "archive")

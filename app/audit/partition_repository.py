"""The SQL that makes, fills, exports, detaches and drops the audit trail's partitions.

DDL cannot take parameters: a table name reaches SQL only after matching the partition naming
scheme, and bounds only as timestamps formatted here (app.audit.partitions builds both from a
validated month).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import asyncpg

from app.db.base import AUDIT_PARTITION_TABLE

PARENT = "audit_events"
DEFAULT = "audit_events_default"
COLUMNS = "id, at, actor, actor_kind, action, patient_id, client_address, outcome, status_code"
# Any constant shared by everything that changes the partitions: one change at a time.
ADVISORY_LOCK = 0x61756469745F7074  # "audit_pt"


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


@dataclass(frozen=True)
class DefaultRows:
    """What the default partition holds: events of months without a partition."""

    count: int
    first: datetime | None
    last: datetime | None


def _table(name: str) -> str:
    if not AUDIT_PARTITION_TABLE.fullmatch(name):
        raise ValueError(f"not an audit partition name: {name!r}")
    return name


def _bound(moment: datetime) -> str:
    assert moment.utcoffset() is not None
    return f"'{moment.isoformat()}'"


def _in_ranges(ranges: Sequence[tuple[datetime, datetime]]) -> tuple[str, list[datetime]]:
    """A condition on `at` for any of the half-open ranges, and its parameters."""
    conditions = [f"(at >= ${2 * i + 1} AND at < ${2 * i + 2})" for i in range(len(ranges))]
    return " OR ".join(conditions), [moment for bounds in ranges for moment in bounds]


class PartitionRepository:
    """On one connection, inside the transaction of one change (`begin` first)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def begin(self, *, lock_timeout_ms: int) -> None:
        """Settings for long statements that must not queue behind a busy table for long, and
        the lock that keeps two changes (a cron run and a deploy) from racing."""
        await self.connection.execute(
            "SELECT set_config('lock_timeout', $1, true), "
            "set_config('statement_timeout', '0', true), set_config('TimeZone', 'UTC', true)",
            f"{lock_timeout_ms}ms",
        )
        await self.connection.execute("SELECT pg_advisory_xact_lock($1)", ADVISORY_LOCK)

    async def now(self) -> datetime:
        moment: datetime = await self.connection.fetchval("SELECT now()")
        return moment

    async def partitioned(self) -> bool:
        kind = await self.connection.fetchval(
            "SELECT relkind FROM pg_class WHERE oid = to_regclass($1)", PARENT
        )
        return bool(kind == b"p")

    async def partitions(self) -> list[str]:
        """The names of audit_events' partitions, the default one included."""
        rows = await self.connection.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = $1::regclass ORDER BY c.relname",
            PARENT,
        )
        return [row["relname"] for row in rows]

    async def table_exists(self, name: str) -> bool:
        found = await self.connection.fetchval("SELECT to_regclass($1) IS NOT NULL", name)
        return bool(found)

    async def default_rows(self) -> DefaultRows:
        row = await self.connection.fetchrow(
            "SELECT count(*), min(at), max(at) FROM audit_events_default"
        )
        assert row is not None
        return DefaultRows(row[0], row[1], row[2])

    async def default_months(self) -> list[datetime]:
        """The first moment (UTC) of each month that has rows in the default partition."""
        rows = await self.connection.fetch(
            "SELECT DISTINCT date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' "
            "FROM audit_events_default"
        )
        return [row[0] for row in rows]

    async def create_partition(self, name: str, start: datetime, end: datetime) -> None:
        """Made apart, then attached: CREATE TABLE … PARTITION OF would lock out every insert
        into audit_events; ATTACH takes a lock that lets them through (and scans the default
        partition for rows of the month, which it refuses)."""
        table = _table(name)
        await self.connection.execute(f"CREATE TABLE {table} (LIKE {PARENT})")
        await self.connection.execute(
            f"ALTER TABLE {PARENT} ATTACH PARTITION {table} "
            f"FOR VALUES FROM ({_bound(start)}) TO ({_bound(end)})"
        )

    async def create_default(self) -> None:
        await self.connection.execute(f"CREATE TABLE {DEFAULT} (LIKE {PARENT})")
        await self.attach_default()

    async def attach_default(self) -> None:
        await self.connection.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {DEFAULT} DEFAULT")

    async def detach(self, name: str) -> None:
        """Detached, the table keeps its rows but no longer has the append-only trigger (a
        clone of the parent's, removed with the attachment)."""
        await self.connection.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {_table(name)}")

    async def move_from_detached_default(self, ranges: Sequence[tuple[datetime, datetime]]) -> int:
        """Move the (detached) default partition's rows in `ranges` into audit_events, where
        partitions now take them; the rows keep their ids."""
        condition, parameters = _in_ranges(ranges)
        status = await self.connection.execute(
            f"INSERT INTO {PARENT} ({COLUMNS}) SELECT {COLUMNS} FROM {DEFAULT} WHERE {condition}",  # noqa: S608
            *parameters,
        )
        await self.connection.execute(f"DELETE FROM {DEFAULT} WHERE {condition}", *parameters)  # noqa: S608
        return int(status.split()[-1])

    async def lock_against_writes(self, name: str) -> None:
        await self.connection.execute(f"LOCK TABLE {_table(name)} IN SHARE MODE")

    async def count(self, name: str) -> int:
        count: int = await self.connection.fetchval(f"SELECT count(*) FROM {_table(name)}")  # noqa: S608
        return count

    async def export_csv(self, name: str, output: Writable) -> int:
        """The table's rows as CSV with a header, written to `output`; returns the rows
        PostgreSQL sent. Timestamps in UTC (`begin` sets the session's time zone)."""
        status = await self.connection.copy_from_table(
            _table(name), columns=COLUMNS.split(", "), output=output, format="csv", header=True
        )
        return int(status.split()[-1])

    async def keep_append_only(self, name: str) -> None:
        """The append-only trigger on a detached partition kept as a table of its own."""
        await self.connection.execute(
            f"CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON {_table(name)} "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )

    async def drop(self, name: str) -> None:
        await self.connection.execute(f"DROP TABLE {_table(name)}")

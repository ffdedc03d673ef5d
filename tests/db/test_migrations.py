"""Alembic owns the schema: it builds everything, removes everything, and agrees with the models."""

import asyncio
import json
import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.crypto import Keyring
from app.db.base import TRIGRAM_INDEXES, Base, include_in_comparison
from app.models.patient import SESSION_NOTES_CONTEXT as NOTES_CONTEXT
from app.patients.repository import filtered_ids
from app.patients.schemas import PatientListQuery
from tests.conftest import TEST_PHI_KEY, alembic_config


def run(url: str, work: Any) -> Any:
    async def go() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def table_names(url: str) -> set[str]:
    return set(run(url, lambda sync: inspect(sync).get_table_names()))


def test_upgrade_builds_everything_and_downgrade_removes_it(empty_database_url):
    config = alembic_config(empty_database_url)
    command.upgrade(config, "head")
    assert {"patients", "alembic_version"} <= table_names(empty_database_url)

    command.downgrade(config, "base")
    assert table_names(empty_database_url) == {"alembic_version"}

    command.upgrade(config, "head")
    assert "patients" in table_names(empty_database_url)


def test_models_and_migrations_agree(empty_database_url):
    command.upgrade(alembic_config(empty_database_url), "head")

    def diff(sync_connection: Any) -> list[Any]:
        opts = {"compare_type": True, "include_object": include_in_comparison}
        context = MigrationContext.configure(sync_connection, opts=opts)
        return list(compare_metadata(context, Base.metadata))

    assert run(empty_database_url, diff) == []


def test_check_constraints_and_indexes_exist(database_url):
    def inspect_patients(sync_connection: Any) -> tuple[set[str], set[str], set[str]]:
        inspector = inspect(sync_connection)
        checks = {c["name"] for c in inspector.get_check_constraints("patients")}
        uniques = {c["name"] for c in inspector.get_unique_constraints("patients")}
        indexes = {i["name"] for i in inspector.get_indexes("patients")}
        return checks, uniques, indexes

    checks, uniques, indexes = run(database_url, inspect_patients)
    assert {
        "ck_patients_id_format",
        "ck_patients_phone_no_format",
        "ck_patients_sex_choice",
        "ck_patients_wallet_balance_range",
    } <= checks
    assert uniques == {"uq_patients_phone_no"}
    assert {
        "ix_patients_created_at_id",
        "ix_patients_updated_at_id",
        "ix_patients_first_name_id",
        "ix_patients_last_name_id",
        "ix_patients_date_of_birth_id",
        "ix_patients_wallet_balance_id",
        "ix_patients_tags",
        "ix_patients_sex",
    } <= indexes


VALID_ROW = {
    "id": "p_abc123",
    "password_hash": "x",
    "first_name": "A",
    "last_name": "B",
    "phone_no": "+123456789",
    "allergies_and_medication": "",
    "date_of_birth": date(1990, 1, 1),
    "sex": "M",
}


@pytest.mark.parametrize(
    "override",
    [
        {"id": "P_ABC123"},
        {"id": "p_abc12"},
        {"phone_no": "12345678"},
        {"sex": "X"},
        {"wallet_balance": Decimal("-0.01")},
        {"wallet_balance": Decimal("100000000.00")},
    ],
)
def test_database_refuses_what_it_cannot_hold(empty_database_url, override):
    command.upgrade(alembic_config(empty_database_url), "head")
    row = {**VALID_ROW, **override}
    columns = ", ".join(row)
    values = ", ".join(f":{name}" for name in row)

    def insert(sync_connection: Any) -> None:
        sync_connection.execute(text(f"INSERT INTO patients ({columns}) VALUES ({values})"), row)  # noqa: S608

    with pytest.raises(DBAPIError):
        run(empty_database_url, insert)


def test_money_is_numeric_and_lists_are_jsonb(database_url):
    def column_types(sync_connection: Any) -> dict[str, str]:
        columns = inspect(sync_connection).get_columns("patients")
        return {c["name"]: str(c["type"]) for c in columns}

    types = run(database_url, column_types)
    assert types["wallet_balance"] == "NUMERIC(10, 2)"
    assert types["tags"] == "JSONB"
    assert types["sessions"] == "JSONB"


def test_a_valid_row_is_accepted(empty_database_url):
    command.upgrade(alembic_config(empty_database_url), "head")

    def insert_and_count(sync_connection: Any) -> int:
        sync_connection.execute(
            text(
                "INSERT INTO patients (id, password_hash, first_name, last_name, phone_no, "
                "allergies_and_medication, date_of_birth, sex) "
                "VALUES (:id, :password_hash, :first_name, :last_name, :phone_no, "
                ":allergies_and_medication, :date_of_birth, :sex)"
            ),
            VALID_ROW,
        )
        return int(sync_connection.execute(text("SELECT count(*) FROM patients")).scalar_one())

    assert run(empty_database_url, insert_and_count) == 1


def test_balances_from_before_the_ledger_become_its_opening_rows(empty_database_url):
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0002")
    rows = [
        {
            **VALID_ROW,
            "id": "p_rich01",
            "phone_no": "+123456781",
            "wallet_balance": Decimal("12.50"),
        },
        {**VALID_ROW, "id": "p_poor01", "phone_no": "+123456782", "wallet_balance": Decimal("0")},
    ]

    def insert(sync_connection: Any) -> None:
        columns = ", ".join(VALID_ROW) + ", wallet_balance"
        values = ", ".join(f":{name}" for name in VALID_ROW) + ", :wallet_balance"
        statement = text(f"INSERT INTO patients ({columns}) VALUES ({values})")  # noqa: S608
        for row in rows:
            sync_connection.execute(statement, row)
        sync_connection.commit()

    run(empty_database_url, insert)
    command.upgrade(config, "head")

    def ledger(sync_connection: Any) -> list[Any]:
        return list(
            sync_connection.execute(
                text(
                    "SELECT e.account, e.patient_id, e.amount, e.balance_after, t.kind, t.actor"
                    " FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id"
                    " ORDER BY e.id"
                )
            )
        )

    # Migration 0020 moved the wallet's history into the ledger, against the adjustments.
    assert run(empty_database_url, ledger) == [
        ("wallet", "p_rich01", Decimal("-12.50"), Decimal("12.50"), "wallet_adjustment", "system"),
        ("adjustments", None, Decimal("12.50"), None, "wallet_adjustment", "system"),
    ]

    def versions(sync_connection: Any) -> list[int]:
        return list(sync_connection.execute(text("SELECT version FROM patients")).scalars())

    assert len(set(run(empty_database_url, versions))) == 2


def test_substring_filters_get_trigram_indexes(database_url):
    def indexes(sync_connection: Any) -> set[str]:
        return {i["name"] for i in inspect(sync_connection).get_indexes("patients")}

    assert set(TRIGRAM_INDEXES) <= run(database_url, indexes)


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ({"name": "ann"}, "ix_patients_first_name_trgm"),
        ({"phone": "(415) 555"}, "ix_patients_phone_no_trgm"),
        # Two patterns, the digits and those of the canonical form (+4420…): both use it.
        ({"phone": "011 44 20 7183 8750"}, "ix_patients_phone_no_trgm"),
        ({"email": "smith"}, "ix_patients_email_trgm"),
    ],
)
def test_the_list_filters_can_use_the_trigram_indexes(database_url, query, index):
    statement = filtered_ids(PatientListQuery(**query))

    def plan(sync_connection: Any) -> str:
        literal = {"literal_binds": True}
        sql = str(statement.compile(bind=sync_connection, compile_kwargs=literal))
        sync_connection.execute(text("SET LOCAL enable_seqscan = off"))
        rows = sync_connection.execute(text("EXPLAIN " + sql)).scalars()
        return "\n".join(rows)

    assert index in run(database_url, plan)


AUDIT_ROW = (
    "INSERT INTO audit_events (at, actor, actor_kind, action, patient_id, client_address, "
    "outcome, status_code) VALUES (:at, 'rivera', 'staff', 'get_patient', 'p_abc123', "
    "'203.0.113.7', 'success', 200)"
)


def _audit_rows(sync_connection: Any) -> list[Any]:
    return list(sync_connection.execute(text("SELECT * FROM audit_events ORDER BY id")))


def _append(at: datetime) -> Any:
    def append(sync_connection: Any) -> int:
        sync_connection.execute(text(AUDIT_ROW), {"at": at})
        sync_connection.commit()
        return int(sync_connection.execute(text("SELECT max(id) FROM audit_events")).scalar_one())

    return append


def _where(sync_connection: Any) -> dict[int, tuple[str, str]]:
    """Each event's table, and the kind of audit_events ('p' partitioned, 'r' plain)."""
    rows = sync_connection.execute(
        text(
            "SELECT e.id, e.tableoid::regclass::text, c.relkind::text"
            " FROM audit_events e, pg_class c WHERE c.oid = 'audit_events'::regclass"
        )
    )
    return {row[0]: (row[1], row[2]) for row in rows}


def test_patients_from_before_the_history_get_a_baseline_version(empty_database_url):
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0012")
    row = {**VALID_ROW, "id": "p_older1", "phone_no": "+123456783", "ssn": "v1:k:sealed"}

    def insert(sync_connection: Any) -> None:
        columns = ", ".join(row)
        values = ", ".join(f":{name}" for name in row)
        statement = text(f"INSERT INTO patients ({columns}) VALUES ({values})")  # noqa: S608
        sync_connection.execute(statement, row)
        sync_connection.commit()

    run(empty_database_url, insert)
    command.upgrade(config, "head")

    def history(sync_connection: Any) -> list[Any]:
        return list(
            sync_connection.execute(
                text(
                    "SELECT v.action, v.actor_kind, v.changed, v.ssn, v.version = p.version "
                    "FROM patient_versions v JOIN patients p ON p.id = v.patient_id"
                )
            )
        )

    # The ciphertext is copied as it is: PHI stays encrypted, under the same key.
    assert run(empty_database_url, history) == [("baseline", "system", [], "v1:k:sealed", True)]
    command.downgrade(config, "0012")
    assert "patient_versions" not in table_names(empty_database_url)


def test_partitioning_the_audit_trail_keeps_every_event_both_ways(empty_database_url):
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0005")
    now = datetime.now(UTC)
    moments = [
        now,
        now - timedelta(days=70),
        now - timedelta(days=420),
        datetime(2019, 3, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    for moment in moments:
        run(empty_database_url, _append(moment))
    before = run(empty_database_url, _audit_rows)
    assert len(before) == 4

    command.upgrade(config, "head")
    assert run(empty_database_url, _audit_rows) == before
    where = run(empty_database_url, _where)
    for row in before:
        assert where[row.id] == (f"audit_events_{row.at.astimezone(UTC):%Y_%m}", "p")
    # The identity goes on where it stopped.
    added = run(empty_database_url, _append(now))
    assert added == before[-1].id + 1

    command.downgrade(config, "0005")
    after = run(empty_database_url, _audit_rows)
    assert after[:4] == before
    assert [row.id for row in after] == [row.id for row in before] + [added]
    assert set(run(empty_database_url, _where).values()) == {("audit_events", "r")}
    assert run(empty_database_url, _append(now)) == added + 1
    assert table_names(empty_database_url) >= {"audit_events"}
    assert not {
        name for name in table_names(empty_database_url) if name.startswith("audit_events_")
    }


def test_0015_makes_numbers_canonical_and_reports_clashes_by_id_only(empty_database_url, caplog):
    """Numbers and addresses that would clash are left as they were and reported by id, never
    merged; the rest become canonical, and a new clash is refused."""
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0012")  # 0013 gives them a baseline version: their history
    rows = [
        ("p_canon1", "+14155550100", "Shared@example.com", datetime(2026, 1, 1, tzinfo=UTC)),
        ("p_typed1", "14155550100", "shared@EXAMPLE.com", datetime(2026, 1, 2, tzinfo=UTC)),
        ("p_natl01", "4155550123", "staff@example.org", datetime(2026, 1, 3, tzinfo=UTC)),
        ("p_intl01", "011442071838750", None, datetime(2026, 1, 4, tzinfo=UTC)),
    ]

    def insert(sync_connection: Any) -> None:
        columns = ", ".join(VALID_ROW) + ", email, created_at"
        values = ", ".join(f":{name}" for name in VALID_ROW) + ", :email, :created_at"
        statement = text(f"INSERT INTO patients ({columns}) VALUES ({values})")  # noqa: S608
        for patient_id, phone_no, email, created in rows:
            row = {**VALID_ROW, "id": patient_id, "phone_no": phone_no, "email": email}
            sync_connection.execute(statement, {**row, "created_at": created})
        sync_connection.execute(
            text(
                "INSERT INTO staff (username, role, password_hash, email) "
                "VALUES ('rivera', 'admin', 'x', 'STAFF@example.org')"
            )
        )
        sync_connection.commit()

    run(empty_database_url, insert)
    command.upgrade(config, "0014")
    with caplog.at_level(logging.WARNING, logger="alembic.runtime.migration"):
        command.upgrade(config, "0015")
    reported = "\n".join(record.getMessage() for record in caplog.records)
    assert "p_canon1, p_typed1" in reported  # the phone numbers, and the e-mail addresses
    assert "Patient p_natl01 shares an e-mail address with staff member" in reported
    for private in ("@", "415555", "example"):
        assert private not in reported

    def phones(sync_connection: Any) -> dict[str, str]:
        return dict(sync_connection.execute(text("SELECT id, phone_no FROM patients")).all())

    expected = {
        "p_canon1": "+14155550100",
        "p_typed1": "14155550100",
        "p_natl01": "+14155550123",
        "p_intl01": "+442071838750",
    }
    assert run(empty_database_url, phones) == expected

    def history(sync_connection: Any) -> dict[str, str]:
        statement = text("SELECT patient_id, phone_no FROM patient_versions")
        return dict(sync_connection.execute(statement).all())

    assert run(empty_database_url, history) == expected

    def write(statement: str) -> Any:
        def go(sync_connection: Any) -> None:
            sync_connection.execute(text(statement))
            sync_connection.commit()

        return go

    # The rows left as they were are still writable; a new holder of their address is not.
    run(empty_database_url, write("UPDATE patients SET first_name = 'C' WHERE id = 'p_typed1'"))
    with pytest.raises(DBAPIError, match="uq_patients_lower_email"):
        run(
            empty_database_url,
            write("UPDATE patients SET email = 'SHARED@example.com' WHERE id = 'p_intl01'"),
        )
    with pytest.raises(DBAPIError, match="a staff member has this e-mail address"):
        run(
            empty_database_url,
            write("UPDATE patients SET email = 'Staff@Example.org' WHERE id = 'p_intl01'"),
        )
    command.downgrade(config, "0014")
    run(empty_database_url, write("UPDATE patients SET email = 'shared@example.com'"))


def test_session_notes_from_before_0016_are_encrypted_and_decrypted_back(empty_database_url):
    config = alembic_config(empty_database_url)
    config.attributes["phi_encryption_keys"] = TEST_PHI_KEY
    command.upgrade(config, "0014")
    sessions = [
        {
            "id": "s1",
            "date": "2024-05-01T14:30:00Z",
            "therapist": "Dr. R",
            "notes": "Panic at work",
        },
        {"id": "s2", "date": "2024-05-08T14:30:00Z", "therapist": None, "notes": None},
        {"id": "s3", "date": "2024-05-15T14:30:00Z", "therapist": None, "notes": ""},
    ]
    rows = [
        {**VALID_ROW, "id": f"p_note0{n}", "phone_no": f"+12345678{n}", "sessions": json.dumps(s)}
        for n, s in enumerate([sessions, [], sessions[1:2]])
    ]

    def insert(sync_connection: Any) -> None:
        columns = ", ".join(rows[0])
        values = ", ".join(f":{name}" for name in VALID_ROW) + ", CAST(:sessions AS jsonb)"
        statement = text(f"INSERT INTO patients ({columns}) VALUES ({values})")  # noqa: S608
        for row in rows:
            sync_connection.execute(statement, row)
        sync_connection.execute(
            text(
                "INSERT INTO patient_versions (patient_id, version, at, actor, actor_kind, action,"
                " changed, first_name, last_name, phone_no, allergies_and_medication,"
                " date_of_birth, sex, tags, wallet_balance, sessions)"
                " SELECT id, version + n, now(), 'x', 'system', 'updated', '{}', first_name,"
                " last_name, phone_no, allergies_and_medication, date_of_birth, sex, tags,"
                " wallet_balance, sessions FROM patients, generate_series(0, 1) AS n"
            )
        )
        sync_connection.commit()

    def stored(sync_connection: Any) -> list[Any]:
        return [
            json.loads(row[0])
            for row in sync_connection.execute(
                text(
                    "SELECT sessions::text FROM (SELECT id AS k, 0 AS v, sessions FROM patients"
                    " UNION ALL SELECT patient_id, version, sessions FROM patient_versions) s"
                    " ORDER BY k, v"
                )
            )
        ]

    run(empty_database_url, insert)
    before = run(empty_database_url, stored)
    assert len(before) == 9
    command.upgrade(config, "0016")

    after = run(empty_database_url, stored)
    assert "Panic" not in json.dumps(after)
    keyring = Keyring.parse(TEST_PHI_KEY)
    for plain, sealed in zip(before, after, strict=True):
        assert len(plain) == len(sealed)
        for one, other in zip(plain, sealed, strict=True):
            assert {**other, "notes": None} == {**one, "notes": None}
            if one["notes"] is None:
                assert other["notes"] is None
            else:
                assert other["notes"].startswith("v1:test1:")
                assert keyring.decrypt(other["notes"], context=NOTES_CONTEXT) == one["notes"]

    command.downgrade(config, "0014")
    assert run(empty_database_url, stored) == before

"""`python -m app seed`: made-up patients that the API reads like any other."""

import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app.audit.partitions import Month, months_from
from app.core.errors import CommandError
from app.models.patient import PATIENT_ID as PATIENT_ID_RE
from app.models.patient import PHONE_NO as PHONE_RE
from app.patients.fields import SSN_RE
from app.patients.schemas import SessionRead
from app.seed.audit import MONTH, seed_audit
from app.seed.patients import (
    ID_SPACE,
    PHONE_SPACE,
    SEED_PASSWORD,
    Scramble,
    patient_id_for,
    phone_for,
    plan_for,
    seed,
)
from tests.commands import run_cli
from tests.factories import create_patient

DAY = timedelta(days=1)
NANP_RE = re.compile(r"\+1[2-9][0-9]{2}[2-9][0-9]{6}")


async def scalar(engine, sql: str, **params):
    async with engine.connect() as connection:
        return await connection.scalar(text(sql), params)


def test_ids_and_phone_numbers_are_unique_and_well_formed():
    rng = random.Random(7)
    ids, phones = Scramble.random(ID_SPACE, rng), Scramble.random(PHONE_SPACE, rng)
    made_ids = {patient_id_for(ids(n)) for n in range(20_000)}
    made_phones = {phone_for(phones(n)) for n in range(20_000)}
    assert len(made_ids) == len(made_phones) == 20_000
    assert all(PATIENT_ID_RE.fullmatch(patient_id) for patient_id in made_ids)
    assert all(PHONE_RE.fullmatch(phone) and NANP_RE.fullmatch(phone) for phone in made_phones)
    assert patient_id_for(0) == "p_aaaaaa"
    assert patient_id_for(ID_SPACE - 1) == "p_999999"
    assert phone_for(0) == "+12002000000"
    assert phone_for(PHONE_SPACE - 1) == "+19999999999"


# The wallet's history in the ledger, as the wallet's ledger endpoint reads it.
WALLET = (
    "(SELECT e.id, e.patient_id, -e.amount AS amount, e.balance_after, t.actor, t.actor_kind"
    " FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id"
    " WHERE e.account = 'wallet') AS w"
)


async def test_seed_loads_patients_with_a_consistent_ledger(settings, database_url, engine, client):
    report = await seed(settings, database_url, 250, batch_size=100, workers=1)
    assert (report.patients, report.workers) == (250, 1)

    assert await scalar(engine, "SELECT count(*) FROM patients") == 250
    assert await scalar(engine, "SELECT count(DISTINCT phone_no) FROM patients") == 250
    assert await scalar(engine, "SELECT count(DISTINCT version) FROM patients") == 250
    assert await scalar(engine, f"SELECT count(*) FROM {WALLET}") == report.ledger_rows  # noqa: S608
    assert await scalar(engine, "SELECT sum(amount) FROM ledger_entries") == 0
    assert report.ledger_rows > 0
    assert await scalar(engine, "SELECT count(*) FROM patients WHERE wallet_balance > 0") > 0
    # Every ledger sums to its balance, and each row's balance_after is the running sum.
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM patients p WHERE wallet_balance <> COALESCE("  # noqa: S608
            f"(SELECT sum(amount) FROM {WALLET} WHERE w.patient_id = p.id), 0)",
        )
        == 0
    )
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM (SELECT balance_after, sum(amount) OVER"  # noqa: S608
            f" (PARTITION BY patient_id ORDER BY id) AS running FROM {WALLET}) AS t"
            " WHERE balance_after <> running OR running < 0",
        )
        == 0
    )
    assert (
        await scalar(
            engine,
            f"SELECT count(*) FROM {WALLET} WHERE (actor, actor_kind) <> ('seed', 'system')",  # noqa: S608
        )
        == 0
    )
    assert await scalar(engine, "SELECT count(*) FROM patients WHERE updated_at < created_at") == 0
    stored = await scalar(engine, "SELECT allergies_and_medication FROM patients LIMIT 1")
    assert stored.startswith("v1:test1:")


async def test_the_api_reads_seeded_patients(settings, database_url, client, login):
    await seed(settings, database_url, 60, batch_size=25, workers=1)

    page = await client.get("/api/patients/", params={"page_size": 100})
    assert page.status_code == 200, page.text
    patients = page.json()["results"]
    assert len(patients) == page.json()["count"] == 60
    assert any(patient["ssn"] for patient in patients)
    assert any(patient["sessions"] for patient in patients)
    for patient in patients:
        # Decrypted with the service's keyring: plaintext, not `v1:…`.
        assert not patient["allergies_and_medication"].startswith("v1:")
        assert patient["ssn"] is None or SSN_RE.fullmatch(patient["ssn"])
        for session in patient["sessions"]:
            assert SessionRead.model_validate(session).model_dump(mode="json") == session

    one = patients[0]
    read = await client.get(f"/api/patients/{one['id']}/")
    assert read.status_code == 200
    assert read.json() == one
    ledger = await client.get(f"/api/patients/{one['id']}/wallet_transactions/")
    assert ledger.status_code == 200
    total = sum(float(row["amount"]) for row in ledger.json()["results"])
    assert f"{total:.2f}" == one["wallet_balance"]
    # Every seeded patient logs in with the documented password.
    assert await login(one["phone_no"], SEED_PASSWORD)


async def test_a_seed_avoids_ids_and_numbers_already_taken(settings, database_url, engine, client):
    plan = await plan_for(settings, database_url, 10, batch_size=10, seed=1234)
    taken_id, taken_phone = patient_id_for(plan.ids(0)), phone_for(plan.phones(1))
    first = await create_patient(client, id=taken_id, first_name="Existing")
    second = await create_patient(client, phone_no=taken_phone, first_name="Existing")

    await seed(settings, database_url, 10, batch_size=10, workers=1, seed=1234)
    await seed(settings, database_url, 10, batch_size=10, workers=1)  # a second run

    assert await scalar(engine, "SELECT count(*) FROM patients") == 22
    assert await scalar(engine, "SELECT count(DISTINCT phone_no) FROM patients") == 22
    for existing in (first, second):
        response = await client.get(f"/api/patients/{existing['id']}/")
        assert response.json() == existing


async def test_seed_command_in_worker_processes(cli_env, engine, client):
    help_text = run_cli(cli_env, "--help").stdout
    assert "seed" in help_text
    assert SEED_PASSWORD in help_text

    result = run_cli(cli_env, "seed", "--count", "45", "--batch-size", "10", "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert "Seeded 45 patients" in result.stdout
    assert "2 worker(s)" in result.stdout
    assert await scalar(engine, "SELECT count(*) FROM patients") == 45
    assert await scalar(engine, "SELECT count(DISTINCT id) FROM patients") == 45
    listed = await client.get("/api/patients/", params={"page_size": 100})
    assert listed.json()["count"] == 45


def test_seed_command_refuses_a_count_below_one(cli_env):
    result = run_cli(cli_env, "seed", "--count", "0")
    assert result.returncode != 0
    assert "at least 1" in result.stderr


# The seed's events are from made-up addresses, the test client's from 127.0.0.1.


async def test_seed_adds_audit_events_into_their_months(settings, database_url, engine, client):
    await seed(settings, database_url, 40, batch_size=20, workers=1)
    started = datetime.now(UTC)
    report = await seed_audit(database_url, 3000, months=3, batch_size=700, workers=1, seed=5)
    assert (report.events, report.workers) == (3000, 1)
    # Three months of 30.4 days back from now: 4 calendar months, or 5 from late in a month.
    assert report.months == months_from(Month.of(started - 3 * MONTH), Month.of(started))

    assert (
        await scalar(
            engine, "SELECT count(*) FROM audit_events WHERE client_address <> '127.0.0.1'"
        )
        == 3000
    )
    assert await scalar(engine, "SELECT count(*) FROM audit_events_default") == 0
    tables = await scalar(
        engine,
        "SELECT array_agg(DISTINCT tableoid::regclass::text) FROM audit_events"
        " WHERE client_address <> '127.0.0.1'",
    )
    # About 33 events a day: every month the range covers for a day or more has some; the first
    # and the last may be covered for minutes only, and hold none.
    start = started - 3 * MONTH
    covered = {
        month.table
        for month in report.months
        if min(month.end, started) - max(month.start, start) >= DAY
    }
    assert covered <= set(tables) <= {month.table for month in report.months}
    # Every event names a patient that exists, or none; a patient acts on their own record.
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM audit_events e WHERE patient_id IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM patients p WHERE p.id = e.patient_id)",
        )
        == 0
    )
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM audit_events WHERE actor_kind = 'patient'"
            " AND actor IS DISTINCT FROM patient_id",
        )
        == 0
    )
    assert await scalar(engine, "SELECT count(*) FROM audit_events WHERE actor_kind = 'patient'")
    actions = await scalar(
        engine,
        "SELECT array_agg(action ORDER BY n DESC) FROM (SELECT action, count(*) AS n"
        " FROM audit_events WHERE client_address <> '127.0.0.1' GROUP BY action) AS t",
    )
    assert actions[0] == "get_patient"
    assert {"list_patients", "login", "update_wallet"} <= set(actions)
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM audit_events WHERE client_address <> '127.0.0.1' AND (at > now()"
            " OR at < now() - interval '3 months' - interval '2 days')",
        )
        == 0
    )
    # Ids grow with time, as the service's do.
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM (SELECT at, lag(at) OVER (ORDER BY id) AS previous"
            " FROM audit_events WHERE client_address <> '127.0.0.1') AS t WHERE at < previous",
        )
        == 0
    )

    patient = await scalar(
        engine,
        "SELECT patient_id FROM audit_events"
        " WHERE client_address <> '127.0.0.1' AND patient_id IS NOT NULL LIMIT 1",
    )
    listed = await client.get("/api/audit/", params={"patient": patient, "page_size": 100})
    assert listed.status_code == 200, listed.text
    assert listed.json()["count"] == await scalar(
        engine, "SELECT count(*) FROM audit_events WHERE patient_id = :patient", patient=patient
    )


async def test_audit_events_need_patients_to_name(database_url, anonymous):
    with pytest.raises(CommandError, match="patients"):
        await seed_audit(database_url, 10, workers=1)


async def test_seed_command_adds_audit_events(cli_env, engine, client):
    result = run_cli(
        cli_env,
        "seed",
        "--count",
        "30",
        "--audit-rows",
        "120000",  # three batches: both worker processes copy
        "--audit-months",
        "2",
        "--workers",
        "2",
    )
    assert result.returncode == 0, result.stderr
    assert "Seeded 120,000 audit events from " in result.stdout
    assert "2 worker(s))." in result.stdout.splitlines()[-1]
    assert (
        await scalar(
            engine, "SELECT count(*) FROM audit_events WHERE client_address <> '127.0.0.1'"
        )
        == 120_000
    )
    assert await scalar(engine, "SELECT count(DISTINCT id) FROM audit_events") == await scalar(
        engine, "SELECT count(*) FROM audit_events"
    )

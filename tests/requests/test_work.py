"""The audited unit of work (app/requests/work.py): the work and its event commit together, a
failure is audited apart, and the caller is checked before any statement runs — within a read
by id itself, which is then the request's only round trip to the database."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from asyncpg.connection import LoggedQuery
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.actions import Action
from app.audit.service import AuditEntry
from app.core.errors import NotFound, ValidationFailed
from app.db.database import Database
from app.patients.repository import PatientRepository
from app.patients.versions import Change
from app.requests.work import UnitOfWork
from tests.factories import create_patient, patient_payload


class Statements(list[str]):
    """The statements the app sends, in order. asyncpg tells its loggers soon after each
    statement, not at once: `settled()` waits for that."""

    async def settled(self) -> "Statements":
        for _ in range(3):
            await asyncio.sleep(0)
        return self

    async def cleared(self) -> None:
        await self.settled()
        self.clear()


@pytest.fixture
async def statements(app) -> AsyncIterator[Statements]:
    sent = Statements()

    def log(query: LoggedQuery) -> None:
        sent.append(" ".join(query.query.split()))

    database: Database = app.state.database
    async with database.logging_queries(log):
        yield sent


async def events(engine: AsyncEngine, **where: Any) -> list[dict[str, Any]]:
    conditions = " AND ".join(f"{name} = :{name}" for name in where) or "true"
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(f"SELECT * FROM audit_events WHERE {conditions} ORDER BY id"),  # noqa: S608
            where,
        )
        return [dict(row._mapping) for row in rows]


async def test_a_read_by_id_is_one_round_trip_event_and_caller_check_included(
    client, statements, engine
):
    patient = await create_patient(client)
    await statements.cleared()
    response = await client.get(f"/api/patients/{patient['id']}/")
    assert response.status_code == 200
    assert len(await statements.settled()) == 1, statements
    assert statements[0].startswith("WITH caller AS")
    [event] = await events(engine, action="get_patient")
    assert (event["actor"], event["actor_kind"], event["patient_id"]) == (
        "admin",
        "staff",
        patient["id"],
    )
    assert (event["outcome"], event["status_code"]) == ("success", 200)


async def test_a_read_of_nobody_is_the_same_round_trip_then_audited_apart(
    client, statements, engine
):
    await statements.cleared()
    response = await client.get("/api/patients/p_nobody/")
    assert response.status_code == 404
    assert len(await statements.settled()) == 2, statements  # the read, then its event apart
    [event] = await events(engine, action="get_patient")
    assert (event["actor"], event["outcome"], event["status_code"]) == ("admin", "not_found", 404)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "trips"),
    [
        ("POST", "/api/patients/{id}/update_wallet/", {"amount": "1.00"}, 200, 2),
        ("POST", "/api/patients/{id}/add_tag/", {"tag": "sleep"}, 200, 2),
        ("PATCH", "/api/patients/{id}/", {"address": "1 Main St"}, 200, 2),
        ("DELETE", "/api/patients/{id}/", None, 204, 2),
        ("GET", "/api/patients/?name=jane", None, 200, 4),  # caller, estimate, count, page
    ],
)
async def test_other_requests_check_the_caller_first_then_complete_in_one_statement(
    client, statements, method, path, body, status, trips
):
    patient = await create_patient(client)
    await statements.cleared()
    response = await client.request(method, path.format(id=patient["id"]), json=body)
    assert response.status_code == status, response.text
    assert len(await statements.settled()) == trips, statements
    assert statements[0].startswith("SELECT staff.username AS name")
    assert "INSERT INTO audit_events" in statements[-1]


async def test_a_create_hashes_only_after_its_caller_is_found(client, statements):
    await statements.cleared()
    response = await client.post("/api/patients/", json=patient_payload())
    assert response.status_code == 201
    assert len(await statements.settled()) == 2, statements
    assert statements[0].startswith("SELECT staff.username AS name")
    assert statements[1].startswith("WITH written AS (INSERT INTO patients")
    assert "INSERT INTO patient_versions" in statements[1]  # the record's history, with it


async def test_a_caller_gone_reads_nothing_and_is_not_audited(
    client, staff_client, statements, engine
):
    therapist = await staff_client("therapist", "dr-gone")
    patient = await create_patient(client, first_name="Ottoline")
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE staff SET is_active = false WHERE username = 'dr-gone'")
        )
    await statements.cleared()
    for path in (f"/api/patients/{patient['id']}/", "/api/patients/p_nobody/"):
        response = await therapist.get(path)
        assert response.status_code == 401
        assert "Ottoline" not in response.text
    assert len(await statements.settled()) == 2  # one statement each: the read that found no caller
    assert await events(engine, actor="dr-gone", action="get_patient") == []


# The unit of work on its own, as the admin and the command line use it.


def entry(action: str = "test_work") -> AuditEntry:
    return AuditEntry(
        action=cast(Action, action),  # no Action: the test's own events
        actor="tester",
        actor_kind="staff",
        patient_id=None,
        client_address="127.0.0.1",
    )


@pytest.fixture
def database(app, anonymous) -> Database:
    database: Database = app.state.database
    return database


async def test_work_without_a_completing_statement_writes_its_event_at_the_end(database, engine):
    async with UnitOfWork(database, entry("plain_work")) as work:
        assert await PatientRepository(work).get("p_nobody") is None
    [event] = await events(engine, action="plain_work")
    assert (event["outcome"], event["status_code"]) == ("success", 200)


async def test_a_failed_transaction_is_rolled_back_and_audited_apart(client, database, engine):
    patient = await create_patient(client)

    async def refused_after_a_write() -> None:
        async with UnitOfWork(database, entry("failing_work")) as work:
            await work.begin()
            change = Change("tester", "staff")
            await PatientRepository(work).update(patient["id"], {"first_name": "Changed"}, change)
            raise ValidationFailed.on("first_name", "refused")

    with pytest.raises(ValidationFailed):
        await refused_after_a_write()
    async with engine.connect() as connection:
        name = await connection.scalar(
            text("SELECT first_name FROM patients WHERE id = :id"), {"id": patient["id"]}
        )
    assert name == "Jane"
    [event] = await events(engine, action="failing_work")
    assert (event["outcome"], event["status_code"]) == ("invalid", 400)


async def test_an_anonymous_work_that_fails_is_not_audited(database, engine):
    with pytest.raises(NotFound):
        async with UnitOfWork(database, entry("anonymous_work"), anonymous=True):
            raise NotFound
    assert await events(engine, action="anonymous_work") == []


async def _xmin(engine: AsyncEngine, sql: str, **params: Any) -> str:
    async with engine.connect() as connection:
        found = await connection.scalar(text(sql), params)
    assert found is not None
    return str(found)


async def test_a_write_that_does_not_complete_the_work_commits_with_its_event(
    client, database, engine, statements
):
    patient = await create_patient(client)
    await statements.cleared()
    async with UnitOfWork(database, entry("write_then_event")) as work:
        change = Change("tester", "staff")
        await PatientRepository(work).update(patient["id"], {"first_name": "Changed"}, change)
    sent = await statements.settled()
    # The write began the transaction, the event was appended in it: two round trips more than
    # a completing write's one, for work that does not mark its write as the completing one.
    assert (len(sent), sent[0], sent[-1]) == (4, "BEGIN;", "COMMIT;"), sent
    assert sent[2].startswith("INSERT INTO audit_events")
    written = await _xmin(engine, "SELECT xmin FROM patients WHERE id = :id", id=patient["id"])
    audited = await _xmin(engine, "SELECT xmin FROM audit_events WHERE action = 'write_then_event'")
    assert written == audited  # one transaction


async def test_a_write_that_does_not_complete_the_work_is_rolled_back_when_it_fails(
    client, database, engine
):
    patient = await create_patient(client)

    async def refused_after_a_write() -> None:
        async with UnitOfWork(database, entry("write_then_refusal")) as work:
            change = Change("tester", "staff")
            await PatientRepository(work).update(patient["id"], {"first_name": "Changed"}, change)
            raise ValidationFailed.on("first_name", "refused")

    with pytest.raises(ValidationFailed):
        await refused_after_a_write()
    async with engine.connect() as connection:
        name = await connection.scalar(
            text("SELECT first_name FROM patients WHERE id = :id"), {"id": patient["id"]}
        )
    assert name == "Jane"
    [event] = await events(engine, action="write_then_refusal")
    assert (event["outcome"], event["status_code"]) == ("invalid", 400)

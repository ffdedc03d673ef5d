"""Bookings racing for the same time: exactly one wins, every other gets a 409 naming it, none
waits on another's deadlock, and every refusal is audited.

Two inserts of overlapping appointments, each into both exclusion constraints' indexes, used to
wait on each other's entry: a deadlock, resolved by PostgreSQL once a second, while the requests
behind it ran into the statement timeout (500s and 503s, nothing booked, 17 s for a round). The
scheduling locks (app.models.scheduling) serialize every write of a therapist's or a patient's
appointments instead. The requests race through an app of their own whose pool is the service's
default (10 + 10 overflow): fifty requests in flight, twenty transactions at a time."""

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.core.config import Settings
from app.main import create_app
from tests.appointments.conftest import body, book
from tests.factories import create_patient

ROUNDS = 6
# A round took 0.4 s on a shared two-core machine, and 17 s when it deadlocked.
ROUND_SECONDS = 5.0

Racer = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
async def racing_app(settings: Settings) -> AsyncIterator[FastAPI]:
    pool = settings.model_copy(update={"db_pool_size": 10, "db_max_overflow": 10})
    application = create_app(pool)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def racer(client, racing_app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=racing_app),
        base_url="http://testserver",
        headers={"Authorization": client.headers["Authorization"]},
    ) as made:
        yield made


async def race(requests: list[Awaitable[httpx.Response]]) -> list[httpx.Response]:
    started = time.monotonic()
    responses = list(await asyncio.gather(*requests))
    assert time.monotonic() - started < ROUND_SECONDS
    failed = [(r.status_code, r.text) for r in responses if r.status_code >= 500]
    assert not failed, failed
    return responses


def at(day: int, hour: int, minute: int = 0) -> str:
    return f"2030-01-{day:02d}T{hour:02d}:{minute:02d}:00+01:00"


async def audited(engine, action: str, patient_id: str) -> Counter[int]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT status_code FROM audit_events WHERE action = :a AND patient_id = :p"),
            {"a": action, "p": patient_id},
        )
    return Counter(row[0] for row in rows)


async def active(client: httpx.AsyncClient, **filters: Any) -> list[dict[str, Any]]:
    response = await client.get(
        "/api/appointments/",
        params={**filters, "status": ["proposed", "booked"], "page_size": 100},
    )
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def overlapping(one: dict[str, Any], other: dict[str, Any]) -> bool:
    start = datetime.fromisoformat
    return start(one["start"]) < start(other["end"]) and start(other["start"]) < start(one["end"])


def check_refusals(responses: list[httpx.Response], sent: list[dict[str, Any]], held) -> None:
    """Each 409 names an active appointment that holds some of the time it asked for, of its
    therapist or its patient."""
    by_id = {appointment["id"]: appointment for appointment in held}
    for response, asked in zip(responses, sent, strict=True):
        if response.status_code == 201:
            continue
        assert response.status_code == 409, response.text
        holder = by_id[response.json()["conflicting_appointment"]]
        assert overlapping(holder, asked)
        assert holder["therapist"] == asked["therapist"] or holder["patient"] == asked["patient"]


async def test_fifty_bookings_of_one_patient_with_one_therapist(
    client, therapist, racer, engine
) -> None:
    """Both constraints in play at once, round after round."""
    patient = await create_patient(client)
    for day in range(7, 7 + ROUNDS):
        sent = [
            body(patient["id"], therapist.id, start=at(day, 10, n % 40), end=at(day, 11, n % 40))
            for n in range(50)
        ]
        responses = await race([racer.post("/api/appointments/", json=one) for one in sent])
        assert sorted(r.status_code for r in responses) == [201] + [409] * 49
        (winner,) = [r.json() for r in responses if r.status_code == 201]
        for response in responses:
            if response.status_code == 409:
                refusal = response.json()
                assert refusal["conflicting_appointment"] == winner["id"]
                assert refusal["detail"].endswith(f"appointment {winner['id']} at that time.")
    held = await active(client, therapist=therapist.id)
    assert len(held) == ROUNDS
    assert await audited(engine, "create_appointment", patient["id"]) == {
        201: ROUNDS,
        409: 49 * ROUNDS,
    }


async def test_fifty_bookings_of_five_patients_with_one_therapist(client, therapist, racer) -> None:
    patients = [await create_patient(client) for _ in range(5)]
    sent = [
        body(patients[n % 5]["id"], therapist.id, start=at(7, 10, n % 40), end=at(7, 11, n % 40))
        for n in range(50)
    ]
    responses = await race([racer.post("/api/appointments/", json=one) for one in sent])
    assert sorted(r.status_code for r in responses) == [201] + [409] * 49
    (winner,) = [r.json() for r in responses if r.status_code == 201]
    assert {r.json()["conflicting_appointment"] for r in responses if r.status_code == 409} == {
        winner["id"]
    }


async def test_crossing_pairs_race(client, make_therapist, racer, engine) -> None:
    """Patient A with therapist X races A with Y and B with X: either A-X wins alone, or A-Y
    and B-X both win; every other request names one of the winners."""
    x, y = await make_therapist(), await make_therapist()
    a, b = await create_patient(client), await create_patient(client)
    pairs = [(a["id"], x.id), (a["id"], y.id), (b["id"], x.id)]
    for day in range(7, 7 + ROUNDS):
        sent = [
            body(*pairs[n % 3], start=at(day, 9, n % 30), end=at(day, 10, n % 30))
            for n in range(48)
        ]
        responses = await race([racer.post("/api/appointments/", json=one) for one in sent])
        won = sorted(
            (one["patient"] == a["id"], one["therapist"] == x.id)
            for response, one in zip(responses, sent, strict=True)
            if response.status_code == 201
        )
        assert won in ([(True, True)], [(False, True), (True, False)]), won
        held = await active(client, patient=a["id"]) + await active(client, patient=b["id"])
        check_refusals(responses, sent, held)
    events = await audited(engine, "create_appointment", a["id"])
    events += await audited(engine, "create_appointment", b["id"])
    assert sum(events.values()) == 48 * ROUNDS
    assert set(events) == {201, 409}


async def test_moves_series_and_bookings_race(client, make_therapist, racer) -> None:
    """The other writes of appointments take the same locks: a move into the time, a series
    starting at it, a change of status and bookings of it, all at once."""
    x, y = await make_therapist(), await make_therapist()
    a, b = await create_patient(client), await create_patient(client)
    for day in range(7, 7 + ROUNDS):
        moving = await book(client, a["id"], y.id, start=at(day, 8), end=at(day, 8, 50))
        proposed = await book(
            client, b["id"], y.id, start=at(day, 18), end=at(day, 18, 50), status="proposed"
        )
        sent: list[dict[str, Any]] = []
        requests: list[Awaitable[httpx.Response]] = []
        for n in range(40):
            patient, therapist = [(a["id"], x.id), (b["id"], y.id), (b["id"], x.id)][n % 3]
            one = body(patient, therapist, start=at(day, 10, n % 20), end=at(day, 11, n % 20))
            sent.append(one)
            requests.append(racer.post("/api/appointments/", json=one))
        series = {**body(a["id"], x.id, start=at(day, 10), end=at(day, 11))}
        requests.append(
            racer.post("/api/appointments/series/", json={**series, "rrule": "FREQ=WEEKLY;COUNT=2"})
        )
        requests.append(
            racer.patch(
                f"/api/appointments/{moving['id']}/",
                json={"start": at(day, 10, 10), "end": at(day, 11)},
            )
        )
        requests.append(
            racer.patch(f"/api/appointments/{proposed['id']}/", json={"status": "booked"})
        )
        responses = await race(requests)
        *bookings, series_response, move, confirm = responses
        assert series_response.status_code in (201, 409), series_response.text
        assert move.status_code in (200, 409), move.text
        assert confirm.status_code == 200, confirm.text
        held = await active(client, patient=a["id"]) + await active(client, patient=b["id"])
        check_refusals(bookings, sent, held)
        mine = [h for h in held if h["start"].startswith(f"2030-01-{day:02d}T1")]
        for one in mine:
            for other in mine:
                if one is not other and overlapping(one, other):
                    assert one["therapist"] != other["therapist"]
                    assert one["patient"] != other["patient"]


async def test_time_off_and_bookings_race(client, therapist, racer) -> None:
    """Time off takes the therapist's scheduling lock before their row's lock, in the bookings'
    order: racing bookings of the same therapist, neither waits on the other's lock."""
    patient = await create_patient(client)
    for day in range(7, 7 + ROUNDS):
        requests = [
            racer.post(
                "/api/appointments/",
                json=body(patient["id"], therapist.id, start=at(day, 10, n), end=at(day, 11, n)),
            )
            for n in range(10)
        ]
        requests.insert(
            5,
            racer.post(
                f"/api/therapists/{therapist.id}/time_off/",
                json={"start": at(day, 9), "end": at(day, 12)},
            ),
        )
        responses = await race(requests)
        off = responses.pop(5)
        assert off.status_code == 201, off.text
        codes = Counter(r.status_code for r in responses)
        assert codes[201] <= 1, codes
        assert set(codes) <= {201, 400, 409}, codes


async def test_a_patients_deletion_and_a_change_of_their_appointment_race(
    client, therapist, racer
) -> None:
    """Deleting a patient cancels their future appointments: it takes the patient's scheduling
    lock before their row, as a change of status does before it charges their wallet or adds a
    session to their record (the patient's row), so neither waits on the other's row."""
    for round_ in range(ROUNDS):
        patients = [await create_patient(client) for _ in range(4)]
        requests: list[Awaitable[httpx.Response]] = []
        for n, patient in enumerate(patients):
            await client.post(
                f"/api/patients/{patient['id']}/update_wallet/", json={"amount": "100.00"}
            )
            start, end = at(7 + round_, 9 + 2 * n), at(7 + round_, 10 + 2 * n)
            booked = await book(client, patient["id"], therapist.id, start=start, end=end)
            status = ("noshow", "fulfilled")[n % 2]
            requests.append(
                racer.patch(f"/api/appointments/{booked['id']}/", json={"status": status})
            )
            requests.append(racer.delete(f"/api/patients/{patient['id']}/"))
        responses = await race(requests)
        for change, deletion in zip(responses[::2], responses[1::2], strict=True):
            assert deletion.status_code == 204, deletion.text
            assert change.status_code in (200, 404), change.text

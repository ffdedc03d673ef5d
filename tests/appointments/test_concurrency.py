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
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.main import create_app
from app.models.scheduling import patient_lock, scheduling_locks
from tests.appointments.conftest import body, book
from tests.factories import create_patient
from tests.locks import advisory_locks

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


async def in_order(
    engine: AsyncEngine, patient_id: str, requests: list[Awaitable[httpx.Response]]
) -> list[httpx.Response]:
    """The requests queued one by one behind the patient's scheduling lock, held here, so they
    take the locks they wait for in the order sent (PostgreSQL grants a lock's waiters in
    their order); their answers once it is let go."""
    tasks: list[asyncio.Task[httpx.Response]] = []
    async with engine.begin() as holder:
        await holder.execute(select(patient_lock(patient_id)))
        for waiting, request in enumerate(requests, start=1):
            tasks.append(asyncio.ensure_future(request))
            await advisory_locks(engine, granted=False, count=waiting)
    return list(await asyncio.gather(*tasks))


async def appointment_status(engine, appointment_id: int) -> str:
    async with engine.connect() as connection:
        found = await connection.scalar(
            text("SELECT status FROM appointments WHERE id = :id"), {"id": appointment_id}
        )
    return str(found)


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


def refused(who: str, holder: dict[str, Any]) -> dict[str, Any]:
    return {
        "detail": f"The {who} already has appointment {holder['id']} at that time.",
        "conflicting_appointment": holder["id"],
    }


def holders(asked: dict[str, Any], held: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The active appointments holding some of the time asked for: its therapist's, then its
    patient's (one of each at most: neither ever has two at once)."""
    taken = [holder for holder in held if overlapping(holder, asked)]
    return [
        (who, holder)
        for who in ("therapist", "patient")
        for holder in taken
        if holder[who] == asked[who]
    ]


def check_refusals(responses: list[httpx.Response], sent: list[dict[str, Any]], held) -> None:
    """A booking is 201 and held, or a 409 naming an active appointment that holds some of
    its time, of its therapist or its patient (whichever held it when the booking ran)."""
    ids = {appointment["id"] for appointment in held}
    for response, asked in zip(responses, sent, strict=True):
        if response.status_code == 201:
            assert response.json()["id"] in ids
            continue
        assert response.status_code == 409, response.text
        assert response.json() in [refused(who, holder) for who, holder in holders(asked, held)]


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
    wins = 0
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
        wins += len(won)
    events = await audited(engine, "create_appointment", a["id"])
    events += await audited(engine, "create_appointment", b["id"])
    assert events == {201: wins, 409: 48 * ROUNDS - wins}


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
        assert confirm.status_code == 200, confirm.text
        assert confirm.json()["status"] == "booked"
        held = await active(client, patient=a["id"]) + await active(client, patient=b["id"])
        check_refusals(bookings, sent, held)
        # A-X (a booking or the series), A-Y (the move), B-Y and B-X all want 10:00 to 11:00:
        # whichever ran first, two won, sharing neither patient nor therapist.
        moved = await client.get(f"/api/appointments/{moving['id']}/")
        ten = [one for one in held if one["start"].startswith(f"2030-01-{day:02d}T10")]
        won = sorted((one["patient"] == a["id"], one["therapist"] == x.id) for one in ten)
        assert won in ([(False, False), (True, True)], [(False, True), (True, False)]), won
        succeeded = [r for r in responses[:-1] if r.status_code in (200, 201)]
        assert len(succeeded) == 2
        assert [r.status_code for r in responses[:-1] if r not in succeeded] == [409] * 40
        moved_to = {"start": at(day, 10, 10), "end": at(day, 11)}
        if move.status_code == 200:
            assert move.json()["id"] in {one["id"] for one in ten}
            assert {k: move.json()[k] for k in moved_to} == moved_to
        else:  # still where it was, refused by the appointment holding A's or Y's time
            assert {k: moved.json()[k] for k in moved_to} == {
                "start": at(day, 8),
                "end": at(day, 8, 50),
            }
            asked = {**moved.json(), **moved_to}
            assert move.json() in [refused(who, holder) for who, holder in holders(asked, ten)]
        occurrence = {"start": at(day, 10), "end": at(day, 11)}
        if series_response.status_code == 201:
            first, _ = series_response.json()["appointments"]
            assert first["id"] in {one["id"] for one in ten}
            assert {k: first[k] for k in occurrence} == occurrence
        else:
            asked = {**body(a["id"], x.id), **occurrence}
            assert series_response.json() in [
                {
                    "detail": "1 of the series' occurrences cannot be booked; nothing was "
                    "booked. Send skip_conflicts=true to book the others.",
                    "conflicts": [
                        {**occurrence, "reason": "overlap", "conflicting_appointment": holder["id"]}
                    ],
                }
                for _, holder in holders(asked, ten)
            ]
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
        # Bookings before the time off: the first is booked, the others refused by it; after
        # it, each is refused for the time off. Which of them ran before it is the race's.
        held = await active(client, therapist=therapist.id, start_after=at(day, 0))
        held = [one for one in held if one["start"].startswith(f"2030-01-{day:02d}")]
        codes = Counter(r.status_code for r in responses)
        assert len(held) == codes[201] <= 1, codes
        assert codes[201] + codes[409] + codes[400] == 10, codes
        answers = {
            201: [one["id"] for one in held],
            400: [{"start": ["The therapist is on time off at that time."]}],
            409: [refused("therapist", one) for one in held],
        }
        for response in responses:
            answer = response.json()["id"] if response.status_code == 201 else response.json()
            assert answer in answers[response.status_code], (response.status_code, answer)


async def test_a_booking_queued_behind_time_off_sees_it(client, therapist, racer, engine) -> None:
    """Time off committed while a booking waits for the therapist's lock: the booking reads
    availability once it holds the lock, so it is refused, not booked inside the time off."""
    patient = await create_patient(client)
    booking = asyncio.ensure_future(
        racer.post(
            "/api/appointments/",
            json=body(patient["id"], therapist.id, start=at(7, 10), end=at(7, 11)),
        )
    )
    async with engine.begin() as holder:
        await holder.execute(scheduling_locks(therapist.id))
        await advisory_locks(engine, granted=False, count=1)
        await holder.execute(
            text(
                "INSERT INTO therapist_time_off (therapist_id, starts_at, ends_at)"
                " VALUES (:therapist, :start, :end)"
            ),
            {
                "therapist": therapist.id,
                "start": datetime.fromisoformat(at(7, 9)),
                "end": datetime.fromisoformat(at(7, 12)),
            },
        )
    refused_booking = await booking
    assert (refused_booking.status_code, refused_booking.json()) == (
        400,
        {"start": ["The therapist is on time off at that time."]},
    )
    assert await active(client, therapist=therapist.id, start_after=at(7, 0)) == []


async def test_a_patients_deletion_and_a_change_of_their_appointment_race(
    client, therapist, racer, engine
) -> None:
    """Deleting a patient cancels their future appointments: it takes the patient's scheduling
    lock before their row, as a change of status does before it charges their wallet or adds a
    session to their record (the patient's row), so neither waits on the other's row."""
    for round_ in range(ROUNDS):
        patients = [await create_patient(client) for _ in range(4)]
        changed: list[int] = []
        requests: list[Awaitable[httpx.Response]] = []
        for n, patient in enumerate(patients):
            await client.post(
                f"/api/patients/{patient['id']}/update_wallet/", json={"amount": "100.00"}
            )
            start, end = at(7 + round_, 9 + 2 * n), at(7 + round_, 10 + 2 * n)
            booked = await book(client, patient["id"], therapist.id, start=start, end=end)
            changed.append(booked["id"])
            status = ("noshow", "fulfilled")[n % 2]
            requests.append(
                racer.patch(f"/api/appointments/{booked['id']}/", json={"status": status})
            )
            requests.append(racer.delete(f"/api/patients/{patient['id']}/"))
        responses = await race(requests)
        for n, (change, deletion) in enumerate(zip(responses[::2], responses[1::2], strict=True)):
            assert deletion.status_code == 204, deletion.text
            status = ("noshow", "fulfilled")[n % 2]
            stored = await appointment_status(engine, changed[n])
            if change.status_code == 200:  # first: then the deletion cancelled it, if active
                assert change.json()["status"] == status
                assert stored == ("noshow", "cancelled")[n % 2]
            else:  # second: the patient's appointments are gone with them
                assert (change.status_code, change.json()) == (404, {"detail": "Not found."})
                assert stored == "cancelled"


SERIES_REFUSED = (
    "1 of the series' occurrences cannot be booked; nothing was booked. "
    "Send skip_conflicts=true to book the others."
)


@pytest.mark.parametrize("first", ["move", "series"])
async def test_a_move_and_a_series_queued_for_one_time_run_in_their_order(
    client, make_therapist, racer, engine, first
) -> None:
    """The race above with its order fixed: A's move (to Y) and A's series (with X) wait for
    A's lock, B's bookings with X and with Y behind them for X's and Y's. The first of A's wins,
    the other is refused by it, and so is B's booking with the winner's therapist."""
    x, y = await make_therapist(), await make_therapist()
    a, b = await create_patient(client), await create_patient(client)
    moving = await book(client, a["id"], y.id, start=at(7, 8), end=at(7, 8, 50))
    ten = {"start": at(7, 10), "end": at(7, 11)}
    move = racer.patch(f"/api/appointments/{moving['id']}/", json=ten)
    series = racer.post(
        "/api/appointments/series/",
        json={**body(a["id"], x.id, **ten), "rrule": "FREQ=WEEKLY;COUNT=2"},
    )
    with_x = racer.post("/api/appointments/", json=body(b["id"], x.id, **ten))
    with_y = racer.post("/api/appointments/", json=body(b["id"], y.id, **ten))
    ours = [move, series] if first == "move" else [series, move]
    one, other, b_x, b_y = await in_order(engine, a["id"], [*ours, with_x, with_y])
    moved, made = (one, other) if first == "move" else (other, one)
    if first == "move":
        assert moved.status_code == 200, moved.text
        assert {k: moved.json()[k] for k in ten} == ten
        assert (made.status_code, made.json()) == (
            409,
            {
                "detail": SERIES_REFUSED,
                "conflicts": [
                    {**ten, "reason": "overlap", "conflicting_appointment": moving["id"]}
                ],
            },
        )
        assert b_x.status_code == 201, b_x.text
        assert (b_y.status_code, b_y.json()) == (409, refused("therapist", moving))
    else:
        assert made.status_code == 201, made.text
        occurrence = made.json()["appointments"][0]
        assert {k: occurrence[k] for k in ten} == ten
        assert (moved.status_code, moved.json()) == (409, refused("patient", occurrence))
        assert (b_x.status_code, b_x.json()) == (409, refused("therapist", occurrence))
        assert b_y.status_code == 201, b_y.text


@pytest.mark.parametrize("first", ["change", "deletion"])
async def test_a_change_and_a_deletion_queued_on_the_patient_run_in_their_order(
    client, therapist, racer, engine, first
) -> None:
    """The race above with its order fixed: a no-show recorded first stays (the deletion
    cancels only active appointments); after the deletion, the appointment is not found."""
    patient = await create_patient(client)
    booked = await book(client, patient["id"], therapist.id, start=at(7, 9), end=at(7, 10))
    change = racer.patch(f"/api/appointments/{booked['id']}/", json={"status": "noshow"})
    deletion = racer.delete(f"/api/patients/{patient['id']}/")
    if first == "change":
        changed, deleted = await in_order(engine, patient["id"], [change, deletion])
        assert changed.status_code == 200, changed.text
        assert changed.json()["status"] == "noshow"
        assert await appointment_status(engine, booked["id"]) == "noshow"
    else:
        deleted, changed = await in_order(engine, patient["id"], [deletion, change])
        assert (changed.status_code, changed.json()) == (404, {"detail": "Not found."})
        assert await appointment_status(engine, booked["id"]) == "cancelled"
    assert deleted.status_code == 204, deleted.text

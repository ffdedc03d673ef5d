"""Free slots: the weekly hours on the clinic's clock (09:00 stays 09:00 across a change of
daylight saving time), less time off, less active appointments widened by the buffer; starts on
the clock's grid of `step` minutes, never before now."""

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import text

from app.therapists.repository import _TAKEN
from tests.therapists.conftest import Therapist, insert_appointment, staff_id

EVERY_DAY = [{"weekday": day, "start": "09:00", "end": "10:00"} for day in range(1, 8)]
MONDAY = "2031-06-02"  # a Monday in summer time (+02:00)


def availability(therapist_id: int, **params: Any) -> str:
    return f"/api/therapists/{therapist_id}/availability/?{urlencode(params)}"


async def set_hours(client: Any, therapist_id: int, hours: list[dict[str, Any]]) -> None:
    response = await client.put(f"/api/therapists/{therapist_id}/hours/", json={"hours": hours})
    assert response.status_code == 200, response.text


def starts(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [slot["start"] for slot in response.json()["slots"]]


async def test_nine_oclock_stays_nine_oclock_across_the_spring_change(client, make_therapist):
    therapist = await make_therapist()
    await set_hours(client, therapist.id, EVERY_DAY)

    # Sunday 2031-03-30, 02:00: Berlin moves from +01:00 to +02:00.
    response = await client.get(
        availability(
            therapist.id,
            **{"from": "2031-03-28T00:00:00+01:00", "to": "2031-04-01T00:00:00+02:00"},
            duration=30,
            step=30,
        )
    )

    assert starts(response) == [
        "2031-03-28T09:00:00+01:00",
        "2031-03-28T09:30:00+01:00",
        "2031-03-29T09:00:00+01:00",
        "2031-03-29T09:30:00+01:00",
        "2031-03-30T09:00:00+02:00",
        "2031-03-30T09:30:00+02:00",
        "2031-03-31T09:00:00+02:00",
        "2031-03-31T09:30:00+02:00",
    ]
    assert response.json()["slots"][4]["end"] == "2031-03-30T09:30:00+02:00"
    assert response.json()["timezone"] == "Europe/Berlin"
    assert response.json()["therapist"] == therapist.id
    assert response.json()["duration"] == 30


async def test_nine_oclock_stays_nine_oclock_across_the_autumn_change(client, make_therapist):
    therapist = await make_therapist()
    await set_hours(client, therapist.id, EVERY_DAY)

    # Sunday 2031-10-26, 03:00: back from +02:00 to +01:00. The window is given in UTC.
    response = await client.get(
        availability(
            therapist.id,
            **{"from": "2031-10-25T00:00:00Z", "to": "2031-10-28T00:00:00Z"},
            duration=60,
        )
    )

    assert starts(response) == [
        "2031-10-25T09:00:00+02:00",
        "2031-10-26T09:00:00+01:00",
        "2031-10-27T09:00:00+01:00",
    ]


async def test_a_week_of_hours_with_the_default_grid(client, make_therapist):
    therapist = await make_therapist()
    await set_hours(client, therapist.id, [{"weekday": 1, "start": "09:10", "end": "10:00"}])

    response = await client.get(
        availability(
            therapist.id,
            **{"from": f"{MONDAY}T00:00:00+02:00", "to": "2031-06-09T00:00:00+02:00"},
            duration=20,
        )
    )

    # 09:10 is not on the 15-minute grid: the first start is 09:15; 09:45 + 20 min is too late.
    assert starts(response) == [f"{MONDAY}T09:15:00+02:00", f"{MONDAY}T09:30:00+02:00"]
    fives = await client.get(
        availability(
            therapist.id,
            **{"from": f"{MONDAY}T09:00:00+02:00", "to": f"{MONDAY}T10:00:00+02:00"},
            duration=40,
            step=5,
        )
    )
    assert starts(fives) == [
        f"{MONDAY}T09:10:00+02:00",
        f"{MONDAY}T09:15:00+02:00",
        f"{MONDAY}T09:20:00+02:00",
    ]


async def test_the_window_clips_the_hours(client, make_therapist):
    therapist = await make_therapist()
    await set_hours(client, therapist.id, [{"weekday": 1, "start": "09:00", "end": "12:00"}])

    response = await client.get(
        availability(
            therapist.id,
            **{"from": f"{MONDAY}T09:20:00+02:00", "to": f"{MONDAY}T10:30:00+02:00"},
            duration=30,
            step=30,
        )
    )

    assert starts(response) == [f"{MONDAY}T09:30:00+02:00", f"{MONDAY}T10:00:00+02:00"]


async def morning(client: Any, make_therapist: Any) -> Therapist:
    therapist: Therapist = await make_therapist()
    await set_hours(client, therapist.id, [{"weekday": 1, "start": "09:00", "end": "12:00"}])
    return therapist


def monday_morning(therapist_id: int) -> str:
    return availability(
        therapist_id,
        **{"from": f"{MONDAY}T00:00:00+02:00", "to": f"{MONDAY}T23:00:00+02:00"},
        duration=30,
        step=30,
    )


def at(clock: str) -> datetime:
    return datetime.fromisoformat(f"{MONDAY}T{clock}:00+02:00")


async def test_an_active_appointment_blocks_and_a_cancelled_one_does_not(
    client, make_therapist, patient_client, engine
):
    therapist = await morning(client, make_therapist)
    patient_id, _ = await patient_client()
    await insert_appointment(
        engine, therapist_id=therapist.id, patient_id=patient_id, start=at("10:00"), end=at("10:50")
    )
    for status in ("cancelled", "noshow", "entered-in-error"):
        await insert_appointment(
            engine,
            therapist_id=therapist.id,
            patient_id=patient_id,
            start=at("11:00"),
            end=at("11:30"),
            status=status,
        )

    response = await client.get(monday_morning(therapist.id))

    assert starts(response) == [
        f"{MONDAY}T09:00:00+02:00",
        f"{MONDAY}T09:30:00+02:00",
        f"{MONDAY}T11:00:00+02:00",
        f"{MONDAY}T11:30:00+02:00",
    ]


async def test_the_buffer_widens_appointments_on_both_sides(
    client, make_therapist, patient_client, engine, settings, monkeypatch
):
    therapist = await morning(client, make_therapist)
    patient_id, _ = await patient_client()
    await insert_appointment(
        engine, therapist_id=therapist.id, patient_id=patient_id, start=at("10:00"), end=at("10:50")
    )
    monkeypatch.setattr(settings, "appointment_buffer_minutes", 10)

    response = await client.get(monday_morning(therapist.id))

    # Taken: 09:50 to 11:00.
    assert starts(response) == [
        f"{MONDAY}T09:00:00+02:00",
        f"{MONDAY}T11:00:00+02:00",
        f"{MONDAY}T11:30:00+02:00",
    ]


async def test_an_appointment_just_outside_the_window_still_blocks_through_its_buffer(
    client, make_therapist, patient_client, engine, settings, monkeypatch
):
    therapist = await morning(client, make_therapist)
    patient_id, _ = await patient_client()
    await insert_appointment(
        engine, therapist_id=therapist.id, patient_id=patient_id, start=at("08:00"), end=at("09:00")
    )
    monkeypatch.setattr(settings, "appointment_buffer_minutes", 15)

    response = await client.get(
        availability(
            therapist.id,
            **{"from": f"{MONDAY}T09:00:00+02:00", "to": f"{MONDAY}T10:30:00+02:00"},
            duration=30,
        )
    )

    assert starts(response)[0] == f"{MONDAY}T09:15:00+02:00"


async def test_time_off_blocks(client, make_therapist):
    therapist = await morning(client, make_therapist)
    created = await client.post(
        f"/api/therapists/{therapist.id}/time_off/",
        json={"start": f"{MONDAY}T10:00:00+02:00", "end": f"{MONDAY}T08:45:00Z"},
    )
    assert created.status_code == 201, created.text

    response = await client.get(monday_morning(therapist.id))

    assert starts(response) == [
        f"{MONDAY}T09:00:00+02:00",
        f"{MONDAY}T09:30:00+02:00",
        f"{MONDAY}T11:00:00+02:00",
        f"{MONDAY}T11:30:00+02:00",
    ]


async def test_never_before_now_and_a_week_by_default(client, make_therapist):
    therapist = await make_therapist()
    all_day = [{"weekday": day, "start": "00:00", "end": "23:59"} for day in range(1, 8)]
    await set_hours(client, therapist.id, all_day)
    before = datetime.now(UTC)
    yesterday = (before - timedelta(days=1)).isoformat()

    response = await client.get(
        availability(therapist.id, **{"from": yesterday}, duration=5, step=5)
    )

    found = [datetime.fromisoformat(start) for start in starts(response)]
    assert found[0] >= before
    assert found[0] <= before + timedelta(minutes=15)
    assert found[-1] <= before + timedelta(days=6)  # from + 7 days: yesterday + 7
    default = await client.get(availability(therapist.id, duration=480, step=240))
    default_starts = [datetime.fromisoformat(start) for start in starts(default)]
    assert default_starts[0] >= before
    assert default_starts[-1] > before + timedelta(days=6)
    assert default_starts[-1] <= before + timedelta(days=7)
    past = await client.get(
        availability(
            therapist.id,
            **{"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"},
        )
    )
    assert starts(past) == []


async def test_anyone_signed_in_may_ask_and_only_for_a_therapist(
    client, make_therapist, patient_client, engine
):
    therapist = await morning(client, make_therapist)
    _, patient = await patient_client()

    assert len(starts(await patient.get(monday_morning(therapist.id)))) == 6
    admin_id = await staff_id(engine, "admin")
    assert (await client.get(monday_morning(admin_id))).status_code == 404
    assert (await client.get(monday_morning(987654))).status_code == 404
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE staff SET is_active = false WHERE id = :id"), {"id": therapist.id}
        )
    assert starts(await patient.get(monday_morning(therapist.id))) == []


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        (
            {"from": f"{MONDAY}T10:00:00+02:00", "to": f"{MONDAY}T10:00:00+02:00"},
            {"to": ["Must be after from."]},
        ),
        (
            {"from": f"{MONDAY}T10:00:00+02:00", "to": f"{MONDAY}T09:00:00+02:00"},
            {"to": ["Must be after from."]},
        ),
        (
            {"from": f"{MONDAY}T10:00:00", "to": f"{MONDAY}T12:00:00+02:00"},
            {"from": ["Include a time zone offset, e.g. 2026-03-30T09:00:00+02:00."]},
        ),
        (
            {"from": f"{MONDAY}T10:00:00+02:00", "to": "2031-06-03T12:00:00"},
            {"to": ["Include a time zone offset, e.g. 2026-03-30T09:00:00+02:00."]},
        ),
        (
            {"from": f"{MONDAY}T00:00:00Z", "to": "2031-07-03T00:00:01Z"},
            {"to": ["The window may be at most 31 days."]},
        ),
        (
            {"from": "tomorrow"},
            {"from": ["Datetime has wrong format. Use ISO 8601, e.g. 2024-05-01T14:30:00Z."]},
        ),
        ({"duration": "0"}, {"duration": ["Ensure this value is greater than or equal to 5."]}),
        ({"duration": "485"}, {"duration": ["Ensure this value is less than or equal to 480."]}),
        ({"duration": "7"}, {"duration": ["Ensure this value is a multiple of 5."]}),
        ({"duration": "half"}, {"duration": ["A valid integer is required."]}),
        ({"step": "3"}, {"step": ["Ensure this value is greater than or equal to 5."]}),
        ({"step": "27"}, {"step": ["Ensure this value is a multiple of 5."]}),
    ],
)
async def test_a_bad_window_or_duration_is_a_400(client, make_therapist, params, errors):
    therapist = await make_therapist()
    response = await client.get(availability(therapist.id, **params))
    assert response.status_code == 400
    assert response.json() == errors


async def test_a_window_of_exactly_31_days_is_allowed(client, make_therapist):
    therapist = await make_therapist()
    await set_hours(client, therapist.id, EVERY_DAY)
    response = await client.get(
        availability(
            therapist.id,
            **{"from": f"{MONDAY}T00:00:00Z", "to": "2031-07-03T00:00:00Z"},
            duration=60,
        )
    )
    assert len(starts(response)) == 31


async def test_the_appointments_are_found_through_the_therapists_gist_index(
    make_therapist, patient_client, engine
):
    """The statement's range and status are the exclusion constraint's own, so that its GiST
    index finds the few appointments of a week among a therapist's thousands, where the btree
    on (therapist_id, starts_at) would read all of their past ones."""
    therapist, other = await make_therapist(), await make_therapist()
    async with engine.begin() as connection:
        for someone in (therapist, other):
            patient_id, _ = await patient_client()
            await connection.execute(
                text(
                    "INSERT INTO appointments (patient_id, therapist_id, starts_at, ends_at, "
                    "kind, status, created_by) SELECT :p, :t, at, at + interval '50 minutes', "
                    "'video', 'fulfilled', 'test' FROM generate_series(timestamptz "
                    "'2025-01-01', timestamptz '2031-12-31', interval '8 hours') AS at"
                ),
                {"p": patient_id, "t": someone.id},
            )
        await connection.execute(text("ANALYZE appointments"))
    start = datetime(2031, 6, 2, tzinfo=UTC)
    window = {"therapist_id": therapist.id, "start": start, "end": start + timedelta(days=7)}
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        rows = await raw.driver_connection.fetch("EXPLAIN " + _TAKEN.sql, *_TAKEN.arguments(window))
    plan = "\n".join(row[0] for row in rows)
    assert "no_overlap_for_therapist" in plan, plan

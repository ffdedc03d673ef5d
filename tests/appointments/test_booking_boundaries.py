"""Booking and moving at the edge of every rule: the ends of the weekly hours, time off touching
and overlapping by a minute, another appointment touching and overlapping by a minute, the
length, both of Berlin's changes of clock in 2026; and, over whole windows, that what the free
slots offer can be booked and what they do not is refused with the contract's answer."""

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.appointments.conftest import body, book, insert_appointment
from tests.clock import freeze
from tests.factories import create_patient

URL = "/api/appointments/"
MONDAY = "2030-01-07"  # winter, +01:00
OUTSIDE_HOURS = {"start": ["The therapist does not work at that time (their weekly hours)."]}
TIME_OFF = {"start": ["The therapist is on time off at that time."]}
LENGTH = {"end": ["An appointment lasts 5 to 480 minutes."]}
SPRING, AUTUMN = "2026-03-29", "2026-10-25"  # Sundays: the clocks go forward, then back
SUNDAY = 7


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    freeze(monkeypatch, datetime(2026, 1, 1, tzinfo=UTC))


def at(clock: str, day: str = MONDAY, offset: str = "+01:00") -> str:
    return f"{day}T{clock}:00{offset}"


@pytest.fixture
async def hours(client):
    """Replace a therapist's week through the API."""

    async def set_week(therapist_id: int, *stretches: tuple[int, str, str]) -> None:
        week = [{"weekday": day, "start": start, "end": end} for day, start, end in stretches]
        response = await client.put(f"/api/therapists/{therapist_id}/hours/", json={"hours": week})
        assert response.status_code == 200, response.text

    return set_week


async def add_time_off(client: Any, therapist_id: int, start: str, end: str) -> None:
    response = await client.post(
        f"/api/therapists/{therapist_id}/time_off/", json={"start": start, "end": end}
    )
    assert response.status_code == 201, response.text


async def try_booking(client: Any, patient: str, therapist: int, start: str, end: str) -> Any:
    return await client.post(URL, json=body(patient, therapist, start=start, end=end))


def answered(response: Any, expected: Any) -> None:
    """`expected` is 201 or the exact 400 body."""
    if expected == 201:
        assert response.status_code == 201, response.text
    else:
        assert response.status_code == 400, response.text
        assert response.json() == expected


# The weekly hours: Monday 09:00-17:00.


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("09:00", "09:30", 201),  # starts exactly at opening
        ("08:59", "09:29", OUTSIDE_HOURS),  # a minute early
        ("08:30", "09:00", OUTSIDE_HOURS),  # ends at opening
        ("09:01", "09:31", 201),
        ("16:30", "17:00", 201),  # ends exactly at closing
        ("16:31", "17:01", OUTSIDE_HOURS),  # a minute late
        ("17:00", "17:30", OUTSIDE_HOURS),  # starts at closing
        ("16:29", "16:59", 201),
        ("09:00", "17:00", 201),  # the whole day, 480 minutes
        ("08:30", "17:30", LENGTH),  # longer than any appointment
    ],
)
async def test_the_edges_of_the_weekly_hours(
    client, make_therapist, hours, patient, start, end, expected
):
    therapist = await make_therapist()
    await hours(therapist.id, (1, "09:00", "17:00"))

    response = await try_booking(client, patient["id"], therapist.id, at(start), at(end))

    answered(response, expected)
    if expected == 201:
        assert response.json()["start"] == at(start)
        assert response.json()["end"] == at(end)
        assert response.json()["outside_availability"] is False


async def test_a_booking_in_utc_is_answered_on_the_clinics_clock(client, make_therapist, hours):
    therapist = await make_therapist()
    await hours(therapist.id, (1, "09:00", "17:00"))
    patient = await create_patient(client)

    response = await try_booking(
        client, patient["id"], therapist.id, f"{MONDAY}T08:00:00Z", f"{MONDAY}T08:30:00Z"
    )

    assert response.status_code == 201, response.text
    assert (response.json()["start"], response.json()["end"]) == (at("09:00"), at("09:30"))
    early = await try_booking(
        client, patient["id"], therapist.id, f"{MONDAY}T07:59:00Z", f"{MONDAY}T08:29:00Z"
    )
    assert early.json() == OUTSIDE_HOURS


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("11:30", "12:00", 201),  # ends where the gap begins
        ("11:31", "12:01", OUTSIDE_HOURS),
        ("12:00", "12:30", OUTSIDE_HOURS),  # in the gap
        ("12:59", "13:29", OUTSIDE_HOURS),
        ("13:00", "13:30", 201),  # starts where the gap ends
        ("11:00", "14:00", OUTSIDE_HOURS),  # across the gap
    ],
)
async def test_a_gap_in_the_hours(client, make_therapist, hours, patient, start, end, expected):
    therapist = await make_therapist()
    await hours(therapist.id, (1, "09:00", "12:00"), (1, "13:00", "17:00"))

    response = await try_booking(client, patient["id"], therapist.id, at(start), at(end))

    answered(response, expected)


async def test_touching_stretches_take_a_booking_across_where_they_meet(
    client, make_therapist, hours, patient
):
    therapist = await make_therapist()
    await hours(therapist.id, (1, "09:00", "12:00"), (1, "12:00", "13:00"))

    response = await try_booking(client, patient["id"], therapist.id, at("11:30"), at("12:30"))

    answered(response, 201)


async def test_a_day_without_hours_takes_no_booking(client, make_therapist, hours, patient):
    therapist = await make_therapist()
    await hours(therapist.id, (2, "09:00", "17:00"))  # Tuesdays only

    response = await try_booking(client, patient["id"], therapist.id, at("10:00"), at("10:30"))

    answered(response, OUTSIDE_HOURS)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (at("23:29"), at("23:59"), 201),  # ends as the day's hours do
        (at("23:30"), at("00:00", "2030-01-08"), OUTSIDE_HOURS),  # to midnight
        (at("23:55"), at("00:05", "2030-01-08"), OUTSIDE_HOURS),  # across midnight
        (at("00:00", "2030-01-08"), at("00:30", "2030-01-08"), 201),
    ],
)
async def test_hours_never_cross_midnight(client, make_therapist, patient, start, end, expected):
    therapist = await make_therapist("00:00", "23:59")

    response = await try_booking(client, patient["id"], therapist.id, start, end)

    answered(response, expected)


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(5, 201), (4, LENGTH), (480, 201), (481, LENGTH), (1, LENGTH)],
)
async def test_the_length_at_its_limits(client, therapist, patient, minutes, expected):
    start = datetime.fromisoformat(at("09:00"))
    end = (start + timedelta(minutes=minutes)).isoformat()

    response = await try_booking(client, patient["id"], therapist.id, start.isoformat(), end)

    answered(response, expected)


# Time off: Monday 12:00-13:00, within hours 09:00-17:00.


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("11:30", "12:00", 201),  # touches its start
        ("11:31", "12:01", TIME_OFF),  # overlaps it by a minute
        ("13:00", "13:30", 201),  # touches its end
        ("12:59", "13:29", TIME_OFF),  # overlaps it by a minute
        ("12:15", "12:45", TIME_OFF),  # inside it
        ("11:00", "14:00", TIME_OFF),  # around it
        ("08:30", "12:30", OUTSIDE_HOURS),  # the hours are checked first
    ],
)
async def test_time_off_at_its_edges(client, make_therapist, hours, patient, start, end, expected):
    therapist = await make_therapist()
    await hours(therapist.id, (1, "09:00", "17:00"), (2, "09:00", "17:00"))
    await add_time_off(client, therapist.id, at("12:00"), at("13:00"))

    response = await try_booking(client, patient["id"], therapist.id, at(start), at(end))

    answered(response, expected)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (at("09:00", "2030-01-08"), at("09:30", "2030-01-08"), TIME_OFF),  # the day between
        (at("09:59", "2030-01-09"), at("10:29", "2030-01-09"), TIME_OFF),
        (at("10:00", "2030-01-09"), at("10:30", "2030-01-09"), 201),
        (at("15:30"), at("16:00"), 201),
        (at("15:31"), at("16:01"), TIME_OFF),
    ],
)
async def test_time_off_over_several_days(client, therapist, patient, start, end, expected):
    await add_time_off(client, therapist.id, at("16:00"), at("10:00", "2030-01-09"))

    response = await try_booking(client, patient["id"], therapist.id, start, end)

    answered(response, expected)


async def test_an_admin_may_book_over_the_edges(client, make_therapist, hours, patient):
    therapist = await make_therapist()
    await hours(therapist.id, (1, "09:00", "17:00"))
    await add_time_off(client, therapist.id, at("12:00"), at("13:00"))
    cases = [
        (at("08:59"), at("09:29"), True),
        (at("09:29"), at("09:59"), False),
        (at("11:59"), at("12:29"), True),
        (at("16:30"), at("17:00"), False),
    ]
    for start, end, outside in cases:
        response = await client.post(
            URL,
            json=body(
                patient["id"], therapist.id, start=start, end=end, override_availability=True
            ),
        )
        assert response.status_code == 201, response.text
        assert response.json()["outside_availability"] is outside


# Another appointment: Monday 10:00-10:50 of the same therapist, with another patient.


@pytest.mark.parametrize(
    ("start", "end", "overlaps"),
    [
        ("09:10", "10:00", False),  # ends as it starts
        ("09:11", "10:01", True),  # a minute into it
        ("10:50", "11:40", False),  # starts as it ends
        ("10:49", "11:39", True),
        ("10:10", "10:40", True),  # inside it
        ("09:50", "11:00", True),  # around it
    ],
)
async def test_another_appointment_at_its_edges(
    client, therapist, patient, start, end, overlaps, engine
):
    other = await create_patient(client)
    taken = await book(client, other["id"], therapist.id, start=at("10:00"), end=at("10:50"))

    response = await try_booking(client, patient["id"], therapist.id, at(start), at(end))

    if overlaps:
        assert response.status_code == 409
        assert response.json() == {
            "detail": f"The therapist already has appointment {taken['id']} at that time.",
            "conflicting_appointment": taken["id"],
        }
    else:
        assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("status", "blocks"),
    [
        ("proposed", True),
        ("booked", True),
        ("arrived", True),
        ("checked-in", True),
        ("fulfilled", True),
        ("cancelled", False),
        ("noshow", False),
        ("entered-in-error", False),
    ],
)
async def test_which_statuses_hold_the_time(client, therapist, patient, engine, status, blocks):
    other = await create_patient(client)
    held = await insert_appointment(
        engine, other["id"], therapist.id, status, at("10:00"), at("10:50")
    )

    response = await try_booking(client, patient["id"], therapist.id, at("10:00"), at("10:50"))

    if blocks:
        assert response.status_code == 409
        assert response.json()["conflicting_appointment"] == held
    else:
        assert response.status_code == 201, response.text


async def test_the_patients_own_appointment_elsewhere_at_its_edges(
    client, therapist, make_therapist, patient
):
    elsewhere = await make_therapist()
    taken = await book(client, patient["id"], elsewhere.id, start=at("10:00"), end=at("10:50"))

    clash = await try_booking(client, patient["id"], therapist.id, at("10:49"), at("11:19"))
    touching = await try_booking(client, patient["id"], therapist.id, at("10:50"), at("11:20"))

    assert touching.status_code == 201, touching.text
    assert clash.status_code == 409
    assert clash.json() == {
        "detail": f"The patient already has appointment {taken['id']} at that time.",
        "conflicting_appointment": taken["id"],
    }


async def test_the_buffer_keeps_slots_free_and_refuses_no_booking(
    client, therapist, patient, settings, monkeypatch
):
    """APPOINTMENT_BUFFER_MINUTES is kept "when free slots are listed" (README): a booking
    next to another appointment is checked for overlap only."""
    monkeypatch.setattr(settings, "appointment_buffer_minutes", 10)
    other = await create_patient(client)
    await book(client, other["id"], therapist.id, start=at("10:00"), end=at("10:50"))

    before = await try_booking(client, patient["id"], therapist.id, at("09:20"), at("10:00"))
    after = await try_booking(client, patient["id"], therapist.id, at("10:50"), at("11:20"))

    assert (before.status_code, after.status_code) == (201, 201)


# Moving: the same edges, by PATCH.


@pytest.mark.parametrize(
    ("start", "end", "status", "errors"),
    [
        ("09:00", "09:50", 200, None),
        ("08:59", "09:49", 400, OUTSIDE_HOURS),
        ("16:10", "17:00", 200, None),
        ("16:11", "17:01", 400, OUTSIDE_HOURS),
        ("11:10", "12:00", 200, None),
        ("11:11", "12:01", 400, TIME_OFF),
        ("13:00", "13:50", 200, None),
        ("12:59", "13:49", 400, TIME_OFF),
        ("14:10", "15:00", 200, None),  # touches the other appointment
        ("14:11", "15:01", 409, None),
    ],
)
async def test_moving_at_the_edges(
    client, make_therapist, hours, patient, start, end, status, errors
):
    therapist = await make_therapist()
    await hours(therapist.id, (1, "09:00", "17:00"))
    await add_time_off(client, therapist.id, at("12:00"), at("13:00"))
    mine = await book(client, patient["id"], therapist.id, start=at("10:00"), end=at("10:50"))
    other = await create_patient(client)
    theirs = await book(client, other["id"], therapist.id, start=at("15:00"), end=at("15:50"))
    url = f"{URL}{mine['id']}/"

    response = await client.patch(url, json={"start": at(start), "end": at(end)})

    assert response.status_code == status, response.text
    if status == 200:
        assert (response.json()["start"], response.json()["end"]) == (at(start), at(end))
        return
    if status == 409:
        assert response.json() == {
            "detail": f"The therapist already has appointment {theirs['id']} at that time.",
            "conflicting_appointment": theirs["id"],
        }
    else:
        assert response.json() == errors
    assert (await client.get(url)).json() == mine


# Berlin's changes of clock in 2026: hours on Sunday 01:00-04:00 local.


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Spring: 01:00+01:00 (00:00Z) to 04:00+02:00 (02:00Z); answered on the clinic's clock.
        (
            "2026-03-29T01:00:00+01:00",
            "2026-03-29T04:00:00+02:00",
            ("2026-03-29T01:00:00+01:00", "2026-03-29T04:00:00+02:00"),
        ),
        (
            "2026-03-29T01:30:00+01:00",
            "2026-03-29T03:00:00+02:00",
            ("2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00"),
        ),
        (
            "2026-03-29T00:00:00Z",
            "2026-03-29T00:30:00Z",
            ("2026-03-29T01:00:00+01:00", "2026-03-29T01:30:00+01:00"),
        ),
        # 02:30+02:00 names no wall time of that night, but an instant all the same: 00:30Z.
        (
            "2026-03-29T02:30:00+02:00",
            "2026-03-29T03:00:00+02:00",
            ("2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00"),
        ),
        (
            "2026-03-29T03:30:00+02:00",
            "2026-03-29T04:00:00+02:00",
            ("2026-03-29T03:30:00+02:00", "2026-03-29T04:00:00+02:00"),
        ),
        ("2026-03-29T03:31:00+02:00", "2026-03-29T04:01:00+02:00", OUTSIDE_HOURS),
        ("2026-03-29T00:59:00+01:00", "2026-03-29T01:29:00+01:00", OUTSIDE_HOURS),
        # Autumn: 01:00+02:00 (23:00Z the day before) to 04:00+01:00 (03:00Z).
        (
            "2026-10-24T23:00:00Z",
            "2026-10-25T03:00:00Z",
            ("2026-10-25T01:00:00+02:00", "2026-10-25T04:00:00+01:00"),
        ),
        (
            "2026-10-25T02:30:00+02:00",
            "2026-10-25T02:30:00+01:00",
            ("2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"),
        ),
        (
            "2026-10-25T01:00:00Z",
            "2026-10-25T02:00:00Z",
            ("2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"),
        ),
        (
            "2026-10-25T03:30:00+01:00",
            "2026-10-25T04:00:00+01:00",
            ("2026-10-25T03:30:00+01:00", "2026-10-25T04:00:00+01:00"),
        ),
        ("2026-10-25T03:31:00+01:00", "2026-10-25T04:01:00+01:00", OUTSIDE_HOURS),
        ("2026-10-25T00:59:00+02:00", "2026-10-25T01:29:00+02:00", OUTSIDE_HOURS),
        ("2026-10-24T22:59:00Z", "2026-10-24T23:29:00Z", OUTSIDE_HOURS),
    ],
)
async def test_booking_on_the_nights_the_clocks_change(
    client, make_therapist, hours, patient, start, end, expected
):
    therapist = await make_therapist()
    await hours(therapist.id, (SUNDAY, "01:00", "04:00"))

    response = await try_booking(client, patient["id"], therapist.id, start, end)

    if isinstance(expected, tuple):
        assert response.status_code == 201, response.text
        assert (response.json()["start"], response.json()["end"]) == expected
    else:
        answered(response, expected)


async def test_the_same_wall_time_twice_is_two_times(client, make_therapist, hours, patient):
    therapist = await make_therapist()
    await hours(therapist.id, (SUNDAY, "01:00", "04:00"))
    other = await create_patient(client)
    first = await book(
        client,
        other["id"],
        therapist.id,
        start="2026-10-25T02:00:00+02:00",
        end="2026-10-25T02:30:00+02:00",
    )

    second = await try_booking(
        client,
        patient["id"],
        therapist.id,
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:30:00+01:00",
    )

    assert second.status_code == 201, second.text
    assert (first["start"], second.json()["start"]) == (
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
    )


# What the free slots offer can be booked; what they do not is refused, for the reason the
# rules give. Each scenario's periods are written in UTC by hand, from the wall times.

Period = tuple[str, str]
SCENARIOS: dict[str, dict[str, Any]] = {
    "a winter morning": {
        "hours": [(1, "09:00", "12:00")],
        "working": [("2030-01-07T08:00:00Z", "2030-01-07T11:00:00Z")],
        "off": [("2030-01-07T09:00:00Z", "2030-01-07T09:30:00Z")],  # 10:00-10:30 local
        "taken": [("2030-01-07T10:00:00Z", "2030-01-07T10:30:00Z")],  # 11:00-11:30 local
        "window": ("2030-01-07T08:00:00+01:00", "2030-01-07T12:30:00+01:00"),
    },
    "the spring night": {
        "hours": [(SUNDAY, "01:00", "04:00")],
        "working": [("2026-03-29T00:00:00Z", "2026-03-29T02:00:00Z")],
        "off": [("2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z")],  # 03:00-03:30 +02:00
        "taken": [("2026-03-29T00:00:00Z", "2026-03-29T00:30:00Z")],  # 01:00-01:30 +01:00
        "window": ("2026-03-29T00:00:00+01:00", "2026-03-29T05:00:00+02:00"),
    },
    "the autumn night": {
        "hours": [(SUNDAY, "01:00", "04:00")],
        "working": [("2026-10-24T23:00:00Z", "2026-10-25T03:00:00Z")],
        "off": [("2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z")],  # 02:00-02:30 +01:00
        "taken": [("2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z")],  # 02:00-02:30 +02:00
        "window": ("2026-10-25T00:00:00+02:00", "2026-10-25T05:00:00+01:00"),
    },
}
DURATION = timedelta(minutes=30)


def instants(periods: list[Period]) -> list[tuple[datetime, datetime]]:
    return [(datetime.fromisoformat(start), datetime.fromisoformat(end)) for start, end in periods]


def rules_answer(scenario: dict[str, Any], start: datetime) -> Any:
    """The contract's answer to a booking of [start, start + 30 min): 201, 400 or 409."""
    end = start + DURATION
    if not any(begins <= start and end <= ends for begins, ends in instants(scenario["working"])):
        return OUTSIDE_HOURS
    if any(begins < end and start < ends for begins, ends in instants(scenario["off"])):
        return TIME_OFF
    if any(begins < end and start < ends for begins, ends in instants(scenario["taken"])):
        return 409
    return 201


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_what_is_offered_is_booked_and_nothing_else(
    client, make_therapist, hours, patient, patient_client, name
):
    scenario = SCENARIOS[name]
    therapist = await make_therapist()
    await hours(therapist.id, *scenario["hours"])
    for start, end in scenario["off"]:
        await add_time_off(client, therapist.id, start, end)
    other = await create_patient(client)
    for start, end in scenario["taken"]:
        await book(client, other["id"], therapist.id, start=start, end=end)
    first, last = (datetime.fromisoformat(edge) for edge in scenario["window"])
    candidates = []
    while first + DURATION <= last:
        candidates.append(first.astimezone(UTC))
        first += timedelta(minutes=15)
    window = {"from": scenario["window"][0], "to": scenario["window"][1]}
    query = urlencode({**window, "duration": 30, "step": 15})

    offered = await client.get(f"/api/therapists/{therapist.id}/availability/?{query}")

    assert offered.status_code == 200, offered.text
    offered_starts = [datetime.fromisoformat(slot["start"]) for slot in offered.json()["slots"]]
    expected = [start for start in candidates if rules_answer(scenario, start) == 201]
    assert offered_starts == expected
    assert expected  # every scenario offers something
    me = await patient_client(patient["id"])
    for start in candidates:
        end = start + DURATION
        response = await me.post(
            URL, json=body(None, therapist.id, start=start.isoformat(), end=end.isoformat())
        )
        wanted = rules_answer(scenario, start)
        assert response.status_code == (wanted if isinstance(wanted, int) else 400), (
            start,
            response.text,
        )
        if wanted == 201:
            freed = await client.patch(
                f"{URL}{response.json()['id']}/", json={"status": "entered-in-error"}
            )
            assert freed.status_code == 200, freed.text
        elif wanted != 409:
            assert response.json() == wanted


async def test_a_move_may_overlap_the_appointments_own_old_time(client, therapist, patient):
    mine = await book(client, patient["id"], therapist.id, start=at("10:00"), end=at("10:50"))

    response = await client.patch(
        f"{URL}{mine['id']}/", json={"start": at("10:10"), "end": at("11:00")}
    )

    assert response.status_code == 200, response.text
    assert (response.json()["start"], response.json()["end"]) == (at("10:10"), at("11:00"))


async def test_a_move_says_again_whether_it_is_outside_availability(
    client, make_therapist, hours, patient
):
    therapist = await make_therapist()
    await hours(therapist.id, (1, "09:00", "17:00"))
    created = await client.post(
        URL,
        json=body(
            patient["id"],
            therapist.id,
            start=at("08:30"),
            end=at("09:00"),
            override_availability=True,
        ),
    )
    assert created.json()["outside_availability"] is True
    url = f"{URL}{created.json()['id']}/"

    inside = await client.patch(url, json={"start": at("09:00"), "end": at("09:30")})
    assert inside.status_code == 200, inside.text
    assert inside.json()["outside_availability"] is False
    refused = await client.patch(url, json={"start": at("16:31"), "end": at("17:01")})
    assert refused.json() == OUTSIDE_HOURS
    outside = await client.patch(
        url, json={"start": at("16:31"), "end": at("17:01"), "override_availability": True}
    )
    assert outside.status_code == 200, outside.text
    assert outside.json()["outside_availability"] is True
    by_therapist = await therapist.client.patch(
        url, json={"start": at("16:00"), "end": at("16:30"), "override_availability": True}
    )
    assert by_therapist.status_code == 403
    assert (await client.get(url)).json() == outside.json()

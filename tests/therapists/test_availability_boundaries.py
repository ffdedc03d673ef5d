"""Free slots at the edge of every rule: the ends of the weekly hours, time off touching and
overlapping by a minute, the buffer exactly and a minute short, "never before now" to the
microsecond, the window's limits, and both of Berlin's changes of clock in 2026 (spring forward
on 2026-03-29, fall back on 2026-10-25) with hours that span 02:00-03:00.

The clock is frozen (tests/clock.py) at New Year 2026 unless a test says otherwise, so that the
dates below stay in the future whenever the suite runs."""

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.clock import freeze
from tests.therapists.conftest import Therapist, insert_appointment

MONDAY = "2031-06-02"  # summer time, +02:00
NEW_YEAR_2026 = datetime(2026, 1, 1, tzinfo=UTC)
SPRING = "2026-03-29"  # a Sunday: 02:00 +01:00 becomes 03:00 +02:00
AUTUMN = "2026-10-25"  # a Sunday: 03:00 +02:00 becomes 02:00 +01:00
SUNDAY = 7


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    freeze(monkeypatch, NEW_YEAR_2026)


def availability(therapist_id: int, **params: Any) -> str:
    return f"/api/therapists/{therapist_id}/availability/?{urlencode(params)}"


def window(start: str, end: str, **params: Any) -> dict[str, Any]:
    return {"from": start, "to": end, **params}


def starts(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [slot["start"] for slot in response.json()["slots"]]


def slots(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.text
    return [(slot["start"], slot["end"]) for slot in response.json()["slots"]]


def every(day: str, first: str, last: str, minutes: int, offset: str = "+02:00") -> list[str]:
    """The wall times from `first` to `last` (both included), `minutes` apart, on one day."""
    at = datetime.fromisoformat(f"{day}T{first}")
    end = datetime.fromisoformat(f"{day}T{last}")
    found = []
    while at <= end:
        found.append(f"{at.isoformat()}{offset}")
        at += timedelta(minutes=minutes)
    return found


def local(day: str, clock: str, offset: str = "+02:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}:00{offset}")


@pytest.fixture
async def working(client, make_therapist):
    """A therapist with these stretches of weekly hours (set through the API)."""

    async def make(*stretches: tuple[int, str, str]) -> Therapist:
        therapist: Therapist = await make_therapist()
        hours = [{"weekday": day, "start": start, "end": end} for day, start, end in stretches]
        response = await client.put(f"/api/therapists/{therapist.id}/hours/", json={"hours": hours})
        assert response.status_code == 200, response.text
        return therapist

    return make


async def add_time_off(client: Any, therapist_id: int, start: str, end: str) -> None:
    response = await client.post(
        f"/api/therapists/{therapist_id}/time_off/", json={"start": start, "end": end}
    )
    assert response.status_code == 201, response.text


# The weekly hours.


@pytest.mark.parametrize(
    ("hours", "duration", "step", "expected"),
    [
        # The first slot starts at opening, the last ends at closing.
        ([("09:00", "10:00")], 30, 5, every(MONDAY, "09:00", "09:30", 5)),
        ([("09:00", "10:00")], 30, 30, every(MONDAY, "09:00", "09:30", 30)),
        # A slot as long as the stretch; one five minutes longer does not fit.
        ([("09:00", "10:00")], 60, 15, [f"{MONDAY}T09:00:00+02:00"]),
        ([("09:00", "10:00")], 65, 5, []),
        # Opening off the grid: the first start is the next time on it.
        ([("09:05", "10:00")], 30, 15, every(MONDAY, "09:15", "09:30", 15)),
        ([("09:05", "10:00")], 30, 5, every(MONDAY, "09:05", "09:30", 5)),
        # Closing off the grid: the last slot ends before it.
        ([("09:00", "09:59")], 30, 15, [f"{MONDAY}T09:00:00+02:00", f"{MONDAY}T09:15:00+02:00"]),
        # Touching stretches are one: a slot may run across where they meet.
        ([("09:00", "09:30"), ("09:30", "10:00")], 60, 30, [f"{MONDAY}T09:00:00+02:00"]),
        # A gap of five minutes: no slot runs across it.
        (
            [("09:00", "09:30"), ("09:35", "10:05")],
            30,
            5,
            [f"{MONDAY}T09:00:00+02:00", f"{MONDAY}T09:35:00+02:00"],
        ),
        # The longest slot, over the longest day's hours.
        ([("00:00", "23:59")], 480, 240, every(MONDAY, "00:00", "12:00", 240)),
    ],
)
async def test_the_edges_of_the_weekly_hours(client, working, hours, duration, step, expected):
    therapist = await working(*[(1, start, end) for start, end in hours])

    response = await client.get(
        availability(
            therapist.id,
            **window(f"{MONDAY}T00:00:00+02:00", "2031-06-03T00:00:00+02:00"),
            duration=duration,
            step=step,
        )
    )

    assert starts(response) == expected
    assert response.json()["duration"] == duration


async def test_a_day_without_hours_has_no_slots(client, working):
    therapist = await working((2, "09:00", "10:00"))  # Tuesdays only

    response = await client.get(
        availability(therapist.id, **window(f"{MONDAY}T00:00:00+02:00", f"{MONDAY}T23:59:00+02:00"))
    )

    assert starts(response) == []


async def test_hours_never_cross_midnight(client, working):
    therapist = await working(*[(day, "00:00", "23:59") for day in (1, 2)])

    response = await client.get(
        availability(
            therapist.id,
            **window(f"{MONDAY}T23:00:00+02:00", "2031-06-03T01:00:00+02:00"),
            duration=30,
            step=15,
        )
    )

    # 23:29 is the last start that ends by 23:59; the next day's hours begin at 00:00.
    assert starts(response) == [
        f"{MONDAY}T23:00:00+02:00",
        f"{MONDAY}T23:15:00+02:00",
        "2031-06-03T00:00:00+02:00",
        "2031-06-03T00:15:00+02:00",
        "2031-06-03T00:30:00+02:00",
    ]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # The window starts exactly at opening, or a minute after (the grid's next is 09:05).
        ("09:00", "10:00", every(MONDAY, "09:00", "09:30", 5)),
        ("09:01", "10:00", every(MONDAY, "09:05", "09:30", 5)),
        # The window ends exactly where the last slot ends, or a minute before.
        ("08:00", "09:30", every(MONDAY, "09:00", "09:00", 5)),
        ("08:00", "09:29", []),
        # A window as long as one slot.
        ("09:10", "09:40", [f"{MONDAY}T09:10:00+02:00"]),
    ],
)
async def test_the_window_clips_the_hours_at_its_edges(client, working, start, end, expected):
    therapist = await working((1, "09:00", "10:00"))

    response = await client.get(
        availability(
            therapist.id,
            **window(f"{MONDAY}T{start}:00+02:00", f"{MONDAY}T{end}:00+02:00"),
            duration=30,
            step=5,
        )
    )

    assert starts(response) == expected


# Time off.


@pytest.mark.parametrize(
    ("off_start", "off_end", "before", "after"),
    [
        # Touching on both sides: the slots before and after it meet it.
        ("10:00", "11:00", "09:30", "11:00"),
        # Overlapping by a minute at its start, then at its end.
        ("09:59", "11:00", "09:25", "11:00"),
        ("10:00", "11:01", "09:30", "11:05"),
        # A minute inside on both sides: the slots touching it stay.
        ("10:01", "10:59", "09:30", "11:00"),
    ],
)
async def test_time_off_at_its_edges(client, working, off_start, off_end, before, after):
    therapist = await working((1, "09:00", "12:00"))
    await add_time_off(
        client, therapist.id, f"{MONDAY}T{off_start}:00+02:00", f"{MONDAY}T{off_end}:00+02:00"
    )

    response = await client.get(
        availability(
            therapist.id,
            **window(f"{MONDAY}T00:00:00+02:00", "2031-06-03T00:00:00+02:00"),
            duration=30,
            step=5,
        )
    )

    assert starts(response) == every(MONDAY, "09:00", before, 5) + every(MONDAY, after, "11:30", 5)


async def test_time_off_over_the_whole_day_and_beyond(client, working):
    therapist = await working((1, "09:00", "12:00"), (2, "09:00", "12:00"))
    await add_time_off(
        client, therapist.id, f"{MONDAY}T08:00:00+02:00", "2031-06-03T10:00:00+02:00"
    )

    response = await client.get(
        availability(
            therapist.id,
            **window(f"{MONDAY}T00:00:00+02:00", "2031-06-04T00:00:00+02:00"),
            duration=60,
            step=60,
        )
    )

    assert starts(response) == ["2031-06-03T10:00:00+02:00", "2031-06-03T11:00:00+02:00"]


async def test_time_off_that_ends_as_the_window_starts_takes_nothing(client, working):
    therapist = await working((1, "09:00", "10:00"))
    await add_time_off(client, therapist.id, f"{MONDAY}T08:00:00+02:00", f"{MONDAY}T09:00:00+02:00")
    await add_time_off(client, therapist.id, f"{MONDAY}T10:00:00+02:00", f"{MONDAY}T11:00:00+02:00")

    response = await client.get(
        availability(
            therapist.id,
            **window(f"{MONDAY}T09:00:00+02:00", f"{MONDAY}T10:00:00+02:00"),
            duration=60,
        )
    )

    assert starts(response) == [f"{MONDAY}T09:00:00+02:00"]


# The buffer: an appointment 10:00-10:50 keeps `buffer` minutes free on each side.


@pytest.mark.parametrize(
    ("buffer", "before", "after"),
    [
        (0, "09:30", "10:50"),
        # Exactly the buffer: 09:20-09:50 ends ten minutes before, 11:00 starts ten after.
        (10, "09:20", "11:00"),
        # One minute more than the gap those slots leave: they are not offered.
        (11, "09:15", "11:05"),
        # A buffer of 9: the time free again at 10:59 is off the grid, so 11:00 comes first.
        (9, "09:20", "11:00"),
    ],
)
async def test_the_buffer_at_its_edges(
    client, working, patient_client, engine, settings, monkeypatch, buffer, before, after
):
    therapist = await working((1, "09:00", "12:00"))
    patient_id, _ = await patient_client()
    await insert_appointment(
        engine,
        therapist_id=therapist.id,
        patient_id=patient_id,
        start=local(MONDAY, "10:00"),
        end=local(MONDAY, "10:50"),
    )
    monkeypatch.setattr(settings, "appointment_buffer_minutes", buffer)

    response = await client.get(
        availability(
            therapist.id,
            **window(f"{MONDAY}T00:00:00+02:00", "2031-06-03T00:00:00+02:00"),
            duration=30,
            step=5,
        )
    )

    assert starts(response) == every(MONDAY, "09:00", before, 5) + every(MONDAY, after, "11:30", 5)


@pytest.mark.parametrize("status", ["cancelled", "noshow", "entered-in-error"])
async def test_an_inactive_appointment_keeps_no_buffer(
    client, working, patient_client, engine, settings, monkeypatch, status
):
    therapist = await working((1, "09:00", "10:00"))
    patient_id, _ = await patient_client()
    await insert_appointment(
        engine,
        therapist_id=therapist.id,
        patient_id=patient_id,
        start=local(MONDAY, "09:00"),
        end=local(MONDAY, "09:30"),
        status=status,
    )
    monkeypatch.setattr(settings, "appointment_buffer_minutes", 30)

    response = await client.get(
        availability(
            therapist.id,
            **window(f"{MONDAY}T00:00:00+02:00", "2031-06-03T00:00:00+02:00"),
            duration=30,
            step=30,
        )
    )

    assert starts(response) == every(MONDAY, "09:00", "09:30", 30)


@pytest.mark.parametrize("status", ["proposed", "booked", "arrived", "checked-in", "fulfilled"])
async def test_an_active_appointment_takes_its_time(
    client, working, patient_client, engine, status
):
    therapist = await working((1, "09:00", "10:00"))
    patient_id, _ = await patient_client()
    await insert_appointment(
        engine,
        therapist_id=therapist.id,
        patient_id=patient_id,
        start=local(MONDAY, "09:00"),
        end=local(MONDAY, "09:30"),
        status=status,
    )

    response = await client.get(
        availability(
            therapist.id,
            **window(f"{MONDAY}T00:00:00+02:00", "2031-06-03T00:00:00+02:00"),
            duration=30,
            step=30,
        )
    )

    assert starts(response) == [f"{MONDAY}T09:30:00+02:00"]


# Never before now.


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (local(MONDAY, "09:00"), every(MONDAY, "09:00", "09:30", 5)),
        # A microsecond past a start: that start is gone.
        (local(MONDAY, "09:00") + timedelta(microseconds=1), every(MONDAY, "09:05", "09:30", 5)),
        (local(MONDAY, "09:04") + timedelta(seconds=59), every(MONDAY, "09:05", "09:30", 5)),
        # The last slot, exactly now; then a microsecond too late for it.
        (local(MONDAY, "09:30"), [f"{MONDAY}T09:30:00+02:00"]),
        (local(MONDAY, "09:30") + timedelta(microseconds=1), []),
        # The window's end is now: nothing is left of it.
        (local(MONDAY, "12:00"), []),
        (local(MONDAY, "13:00"), []),
    ],
)
async def test_never_before_now(client, working, monkeypatch, now, expected):
    therapist = await working((1, "09:00", "10:00"))
    freeze(monkeypatch, now)

    response = await client.get(
        availability(
            therapist.id,
            **window(f"{MONDAY}T08:00:00+02:00", f"{MONDAY}T12:00:00+02:00"),
            duration=30,
            step=5,
        )
    )

    assert starts(response) == expected


async def test_the_default_window_is_the_week_from_now(client, working, monkeypatch):
    therapist = await working(*[(day, "00:00", "23:59") for day in range(1, 8)])
    freeze(monkeypatch, local(MONDAY, "00:00"))

    response = await client.get(availability(therapist.id, duration=480, step=240))

    # Seven days from Monday 00:00: Sunday's noon slot is the last; 16:00 + 8 h is too late.
    days = [f"2031-06-0{day}" for day in range(2, 9)]
    expected = [start for day in days for start in every(day, "00:00", "12:00", 240)]
    assert starts(response) == expected


async def test_to_defaults_to_seven_days_after_from(client, working):
    therapist = await working(*[(day, "00:00", "23:59") for day in range(1, 8)])

    response = await client.get(
        availability(therapist.id, **{"from": f"{MONDAY}T12:00:00+02:00"}, duration=240, step=240)
    )

    # The last slot ends exactly at from + 7 days.
    found = slots(response)
    assert found[0] == (f"{MONDAY}T12:00:00+02:00", f"{MONDAY}T16:00:00+02:00")
    assert found[-1] == ("2031-06-09T08:00:00+02:00", "2031-06-09T12:00:00+02:00")
    assert len(found) == 2 + 6 * 5 + 3


@pytest.mark.parametrize(
    ("to", "status"),
    [
        # `to` alone counts from now (frozen at 2026-01-01T00:00Z).
        ("2026-01-01T00:00:00Z", 400),
        ("2025-12-31T23:59:00Z", 400),
        ("2026-01-01T00:05:00Z", 200),
    ],
)
async def test_to_alone_must_be_after_now(client, working, to, status):
    therapist = await working((4, "00:00", "23:59"))  # Thursday, 2026-01-01

    response = await client.get(availability(therapist.id, to=to, duration=5, step=5))

    assert response.status_code == status
    if status == 400:
        assert response.json() == {"to": ["Must be after from."]}
    else:
        assert slots(response) == [("2026-01-01T01:00:00+01:00", "2026-01-01T01:05:00+01:00")]


# The window's limits.


@pytest.mark.parametrize(
    ("start", "end", "status"),
    [
        ("2031-06-02T00:00:00Z", "2031-07-03T00:00:00Z", 200),  # exactly 31 days
        ("2031-06-02T00:00:00Z", "2031-07-03T00:01:00Z", 400),  # a minute more
        ("2031-06-02T00:00:00Z", "2031-06-02T00:00:00.000001Z", 200),  # a microsecond
        # Across the changes of clock the 31 days are elapsed time: 31 local days in spring
        # are an hour less, and 31 days in autumn end an hour earlier on the clock.
        ("2026-03-15T00:00:00+01:00", "2026-04-15T00:00:00+02:00", 200),
        ("2026-10-10T00:00:00+02:00", "2026-11-09T23:00:00+01:00", 200),
        ("2026-10-10T00:00:00+02:00", "2026-11-10T00:00:00+01:00", 400),
    ],
)
async def test_a_window_is_at_most_31_days(client, working, start, end, status):
    therapist = await working((1, "09:00", "10:00"))

    response = await client.get(availability(therapist.id, **window(start, end)))

    assert response.status_code == status, response.text
    if status == 400:
        assert response.json() == {"to": ["The window may be at most 31 days."]}


@pytest.mark.parametrize(
    ("params", "status", "errors"),
    [
        ({"duration": 5, "step": 5}, 200, None),
        ({"duration": 480, "step": 240}, 200, None),
        ({"duration": 4}, 400, {"duration": ["Ensure this value is greater than or equal to 5."]}),
        ({"duration": 481}, 400, {"duration": ["Ensure this value is less than or equal to 480."]}),
        ({"duration": 490}, 400, {"duration": ["Ensure this value is less than or equal to 480."]}),
        ({"duration": 6}, 400, {"duration": ["Ensure this value is a multiple of 5."]}),
        ({"step": 4}, 400, {"step": ["Ensure this value is greater than or equal to 5."]}),
        ({"step": 245}, 400, {"step": ["Ensure this value is less than or equal to 240."]}),
        ({"step": 241}, 400, {"step": ["Ensure this value is less than or equal to 240."]}),
        ({"step": 6}, 400, {"step": ["Ensure this value is a multiple of 5."]}),
    ],
)
async def test_duration_and_step_at_their_limits(client, working, params, status, errors):
    therapist = await working((1, "09:00", "17:00"))

    response = await client.get(
        availability(
            therapist.id, **window(f"{MONDAY}T00:00:00+02:00", f"{MONDAY}T23:00:00+02:00"), **params
        )
    )

    assert response.status_code == status, response.text
    if errors is not None:
        assert response.json() == errors


# Berlin's changes of clock in 2026, with hours across 02:00-03:00 local.


@pytest.mark.parametrize(
    ("hours", "duration", "step", "expected"),
    [
        # 01:00-04:00 on the spring night is two hours of work: 02:00-03:00 does not exist.
        (
            ("01:00", "04:00"),
            30,
            30,
            [
                ("2026-03-29T01:00:00+01:00", "2026-03-29T01:30:00+01:00"),
                ("2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00"),
                ("2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00"),
                ("2026-03-29T03:30:00+02:00", "2026-03-29T04:00:00+02:00"),
            ],
        ),
        (
            ("01:00", "04:00"),
            60,
            60,
            [
                ("2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00"),
                ("2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"),
            ],
        ),
        (("01:00", "04:00"), 120, 60, [("2026-03-29T01:00:00+01:00", "2026-03-29T04:00:00+02:00")]),
        (("01:00", "04:00"), 125, 5, []),
        # Hours wholly inside the hour the clocks skip: no time at all.
        (("02:00", "03:00"), 5, 5, []),
        # Hours from a time that does not exist start after the gap: 02:30 is 03:30.
        (
            ("02:30", "05:00"),
            30,
            30,
            [
                ("2026-03-29T03:30:00+02:00", "2026-03-29T04:00:00+02:00"),
                ("2026-03-29T04:00:00+02:00", "2026-03-29T04:30:00+02:00"),
                ("2026-03-29T04:30:00+02:00", "2026-03-29T05:00:00+02:00"),
            ],
        ),
        # ... and hours to one end after it: 01:00-02:30 is 00:00Z-01:30Z.
        (
            ("01:00", "02:30"),
            30,
            30,
            [
                ("2026-03-29T01:00:00+01:00", "2026-03-29T01:30:00+01:00"),
                ("2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00"),
                ("2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00"),
            ],
        ),
        # The grid counts minutes since local midnight: 01:30, (02:15 skipped), 03:00, 03:45...
        (
            ("01:00", "05:00"),
            30,
            45,
            [
                ("2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00"),
                ("2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00"),
                ("2026-03-29T03:45:00+02:00", "2026-03-29T04:15:00+02:00"),
                ("2026-03-29T04:30:00+02:00", "2026-03-29T05:00:00+02:00"),
            ],
        ),
    ],
)
async def test_the_spring_night(client, working, hours, duration, step, expected):
    therapist = await working((SUNDAY, *hours))

    response = await client.get(
        availability(
            therapist.id,
            **window(f"{SPRING}T00:00:00+01:00", f"{SPRING}T12:00:00+02:00"),
            duration=duration,
            step=step,
        )
    )

    assert slots(response) == expected


@pytest.mark.parametrize(
    ("hours", "duration", "step", "expected"),
    [
        # 01:00-04:00 on the autumn night is four hours of work: 02:00-03:00 comes twice.
        (
            ("01:00", "04:00"),
            30,
            30,
            [
                ("2026-10-25T01:00:00+02:00", "2026-10-25T01:30:00+02:00"),
                ("2026-10-25T01:30:00+02:00", "2026-10-25T02:00:00+02:00"),
                ("2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00"),
                ("2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00"),
                ("2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00"),
                ("2026-10-25T02:30:00+01:00", "2026-10-25T03:00:00+01:00"),
                ("2026-10-25T03:00:00+01:00", "2026-10-25T03:30:00+01:00"),
                ("2026-10-25T03:30:00+01:00", "2026-10-25T04:00:00+01:00"),
            ],
        ),
        (
            ("01:00", "04:00"),
            60,
            60,
            [
                ("2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+02:00"),
                ("2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"),
                ("2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"),
                ("2026-10-25T03:00:00+01:00", "2026-10-25T04:00:00+01:00"),
            ],
        ),
        (("01:00", "04:00"), 240, 60, [("2026-10-25T01:00:00+02:00", "2026-10-25T04:00:00+01:00")]),
        (("01:00", "04:00"), 245, 5, []),
        # Hours of the hour shown twice: both of its occurrences.
        (
            ("02:00", "03:00"),
            30,
            30,
            [
                ("2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00"),
                ("2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00"),
                ("2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00"),
                ("2026-10-25T02:30:00+01:00", "2026-10-25T03:00:00+01:00"),
            ],
        ),
        # 02:30, shown twice, starts the hours at its first occurrence.
        (
            ("02:30", "03:00"),
            30,
            30,
            [
                ("2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00"),
                ("2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00"),
                ("2026-10-25T02:30:00+01:00", "2026-10-25T03:00:00+01:00"),
            ],
        ),
        # On a 45-minute grid, 02:15 comes twice and 03:00 once.
        (
            ("01:00", "04:00"),
            30,
            45,
            [
                ("2026-10-25T01:30:00+02:00", "2026-10-25T02:00:00+02:00"),
                ("2026-10-25T02:15:00+02:00", "2026-10-25T02:45:00+02:00"),
                ("2026-10-25T02:15:00+01:00", "2026-10-25T02:45:00+01:00"),
                ("2026-10-25T03:00:00+01:00", "2026-10-25T03:30:00+01:00"),
            ],
        ),
    ],
)
async def test_the_autumn_night(client, working, hours, duration, step, expected):
    therapist = await working((SUNDAY, *hours))

    response = await client.get(
        availability(
            therapist.id,
            **window(f"{AUTUMN}T00:00:00+02:00", f"{AUTUMN}T12:00:00+01:00"),
            duration=duration,
            step=step,
        )
    )

    assert slots(response) == expected


@pytest.mark.parametrize(
    ("monday", "winter", "summer"),
    [
        # Spring: six mornings at +01:00 (08:00Z), then Sunday and Monday at +02:00 (07:00Z).
        ("2026-03-23", ["23", "24", "25", "26", "27", "28"], ["29", "30"]),
        # Autumn: six mornings at +02:00, then Sunday and Monday at +01:00.
        ("2026-10-19", ["25", "26"], ["19", "20", "21", "22", "23", "24"]),
    ],
)
async def test_nine_oclock_all_through_the_week_of_each_change(
    client, working, monday, winter, summer
):
    therapist = await working(*[(day, "09:00", "10:00") for day in range(1, 8)])
    month = monday[:8]
    next_monday = (datetime.fromisoformat(monday) + timedelta(days=8)).date().isoformat()

    response = await client.get(
        availability(
            therapist.id,
            **window(f"{monday}T00:00:00Z", f"{next_monday}T00:00:00Z"),
            duration=60,
            step=60,
        )
    )

    expected = sorted(
        [f"{month}{day}T09:00:00+01:00" for day in winter]
        + [f"{month}{day}T09:00:00+02:00" for day in summer]
    )
    assert starts(response) == expected
    in_utc = [datetime.fromisoformat(start).astimezone(UTC).hour for start in starts(response)]
    assert in_utc == [8 if start.endswith("+01:00") else 7 for start in expected]


async def test_time_off_in_the_hour_shown_twice(client, working):
    therapist = await working((SUNDAY, "01:00", "04:00"))
    # The second 02:00-03:00 (+01:00) off; the first one stays free.
    await add_time_off(client, therapist.id, f"{AUTUMN}T02:00:00+01:00", f"{AUTUMN}T03:00:00+01:00")

    response = await client.get(
        availability(
            therapist.id,
            **window(f"{AUTUMN}T00:00:00+02:00", f"{AUTUMN}T12:00:00+01:00"),
            duration=60,
            step=60,
        )
    )

    assert starts(response) == [
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T03:00:00+01:00",
    ]


@pytest.mark.parametrize(
    ("first", "last", "step"),
    [
        ("2026-03-29T00:00:00+01:00", "2026-03-29T05:00:00+02:00", 15),
        ("2026-03-29T00:00:00+01:00", "2026-03-29T05:00:00+02:00", 45),
        ("2026-10-25T00:00:00+02:00", "2026-10-25T05:00:00+01:00", 15),
        ("2026-10-25T00:00:00+02:00", "2026-10-25T05:00:00+01:00", 45),
    ],
)
async def test_a_window_starting_or_ending_anywhere_in_a_dst_night(
    client, working, first, last, step
):
    """A window from any instant of the night offers exactly the night's slots that start at
    or after it, and one to any instant those that end by it."""
    therapist = await working((SUNDAY, "01:00", "05:00"))

    async def offered(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        response = await client.get(
            availability(
                therapist.id,
                **window(start.isoformat(), end.isoformat()),
                duration=30,
                step=step,
            )
        )
        return [
            (datetime.fromisoformat(begins), datetime.fromisoformat(ends))
            for begins, ends in slots(response)
        ]

    night_start, night_end = datetime.fromisoformat(first), datetime.fromisoformat(last)
    whole = await offered(night_start, night_end)
    assert whole
    edge = night_start + timedelta(minutes=5)
    while edge < night_end:
        assert await offered(edge, night_end) == [slot for slot in whole if slot[0] >= edge], edge
        assert await offered(night_start, edge) == [slot for slot in whole if slot[1] <= edge], edge
        edge += timedelta(minutes=5)

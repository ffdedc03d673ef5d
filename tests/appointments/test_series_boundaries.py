"""A weekly series through Berlin's changes of clock in 2026, against hours on Sunday
01:00-04:00 local: each occurrence at the first's wall time (one the clocks skip moved forward
by the gap, one they show twice at its first showing), as long as the first, and checked
against the hours like any booking, to the minute."""

from datetime import datetime
from typing import Any

import pytest

from tests.appointments.conftest import body
from tests.clock import freeze

URL = "/api/appointments/series/"
SUNDAY = 7


@pytest.fixture
async def sunday_nights(client, make_therapist):
    therapist = await make_therapist()
    week = [{"weekday": SUNDAY, "start": "01:00", "end": "04:00"}]
    response = await client.put(f"/api/therapists/{therapist.id}/hours/", json={"hours": week})
    assert response.status_code == 200, response.text
    return therapist


def series(patient: str, therapist: int, start: str, end: str, **overrides: Any) -> Any:
    return {
        **body(patient, therapist, start=start, end=end),
        "rrule": "FREQ=WEEKLY;COUNT=3",
        **overrides,
    }


def times(created: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["start"], a["end"]) for a in created["appointments"]]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Before the gap, across it: the 30 minutes from 01:30+01:00 end at 03:00+02:00.
        (
            "2026-03-22T01:30:00+01:00",
            "2026-03-22T02:00:00+01:00",
            [
                ("2026-03-22T01:30:00+01:00", "2026-03-22T02:00:00+01:00"),
                ("2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00"),
                ("2026-04-05T01:30:00+02:00", "2026-04-05T02:00:00+02:00"),
            ],
        ),
        # 02:30 does not exist on the spring night: 03:30, which ends exactly at closing.
        (
            "2026-03-22T02:30:00+01:00",
            "2026-03-22T03:00:00+01:00",
            [
                ("2026-03-22T02:30:00+01:00", "2026-03-22T03:00:00+01:00"),
                ("2026-03-29T03:30:00+02:00", "2026-03-29T04:00:00+02:00"),
                ("2026-04-05T02:30:00+02:00", "2026-04-05T03:00:00+02:00"),
            ],
        ),
        # 02:30 comes twice on the autumn night: the first, +02:00.
        (
            "2026-10-18T02:30:00+02:00",
            "2026-10-18T03:00:00+02:00",
            [
                ("2026-10-18T02:30:00+02:00", "2026-10-18T03:00:00+02:00"),
                ("2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00"),
                ("2026-11-01T02:30:00+01:00", "2026-11-01T03:00:00+01:00"),
            ],
        ),
        # The first occurrence is the one sent, even at the second showing of 02:30.
        (
            "2026-10-25T02:30:00+01:00",
            "2026-10-25T03:00:00+01:00",
            [
                ("2026-10-25T02:30:00+01:00", "2026-10-25T03:00:00+01:00"),
                ("2026-11-01T02:30:00+01:00", "2026-11-01T03:00:00+01:00"),
                ("2026-11-08T02:30:00+01:00", "2026-11-08T03:00:00+01:00"),
            ],
        ),
        (
            "2026-10-25T02:00:00+01:00",
            "2026-10-25T02:30:00+01:00",
            [
                ("2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00"),
                ("2026-11-01T02:00:00+01:00", "2026-11-01T02:30:00+01:00"),
                ("2026-11-08T02:00:00+01:00", "2026-11-08T02:30:00+01:00"),
            ],
        ),
    ],
)
async def test_a_series_through_a_change_of_clock(
    client, sunday_nights, patient, start, end, expected
):
    response = await client.post(URL, json=series(patient["id"], sunday_nights.id, start, end))

    assert response.status_code == 201, response.text
    assert times(response.json()) == expected
    assert response.json()["skipped"] == []


@pytest.mark.parametrize(
    ("start", "end", "unavailable"),
    [
        # Moved forward by the gap, 02:40 is 03:40: ten minutes past closing.
        (
            "2026-03-22T02:40:00+01:00",
            "2026-03-22T03:10:00+01:00",
            ("2026-03-29T03:40:00+02:00", "2026-03-29T04:10:00+02:00"),
        ),
        # A minute past closing only on the night the clocks go forward.
        (
            "2026-03-22T02:31:00+01:00",
            "2026-03-22T03:01:00+01:00",
            ("2026-03-29T03:31:00+02:00", "2026-03-29T04:01:00+02:00"),
        ),
    ],
)
async def test_an_occurrence_pushed_past_closing_is_unavailable(
    client, sunday_nights, patient, start, end, unavailable
):
    payload = series(patient["id"], sunday_nights.id, start, end)

    refused = await client.post(URL, json=payload)
    skipping = await client.post(URL, json={**payload, "skip_conflicts": True})

    conflict = {
        "start": unavailable[0],
        "end": unavailable[1],
        "reason": "unavailable",
        "conflicting_appointment": None,
    }
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "1 of the series' occurrences cannot be booked; nothing was booked. "
        "Send skip_conflicts=true to book the others.",
        "conflicts": [conflict],
    }
    assert skipping.status_code == 201, skipping.text
    assert len(skipping.json()["appointments"]) == 2
    assert skipping.json()["skipped"] == [conflict]


# Cancelling the rest of a series: the appointments that start at or after `from`.

WEEKLY = [
    "2030-01-07T09:00:00+01:00",
    "2030-01-14T09:00:00+01:00",
    "2030-01-21T09:00:00+01:00",
]


@pytest.mark.parametrize(
    ("cut", "cancelled"),
    [
        ("2030-01-14T09:00:00+01:00", [False, True, True]),  # exactly the second's start
        ("2030-01-14T08:59:00+01:00", [False, True, True]),
        ("2030-01-14T09:01:00+01:00", [False, False, True]),  # a minute after it
        ("2030-01-14T09:00:00.000001+01:00", [False, False, True]),
        ("2030-01-21T09:00:01+01:00", [False, False, False]),
        ("2030-01-07T09:00:00+01:00", [True, True, True]),
    ],
)
async def test_cancelling_the_rest_of_a_series_from_an_instant(
    client, therapist, patient, cut, cancelled
):
    created = await client.post(
        URL,
        json=series(patient["id"], therapist.id, WEEKLY[0], "2030-01-07T09:50:00+01:00"),
    )
    assert created.status_code == 201, created.text
    assert [a["start"] for a in created.json()["appointments"]] == WEEKLY

    response = await client.post(f"{URL}{created.json()['id']}/cancel/", json={"from": cut})

    assert response.status_code == 200, response.text
    statuses = [a["status"] for a in response.json()["appointments"]]
    assert statuses == ["cancelled" if gone else "booked" for gone in cancelled]


@pytest.mark.parametrize(
    ("now", "cancelled"),
    [
        ("2030-01-14T09:00:00+01:00", [False, True, True]),
        ("2030-01-14T09:00:00.000001+01:00", [False, False, True]),
    ],
)
async def test_the_rest_of_a_series_is_by_default_from_now(
    client, therapist, patient, monkeypatch, now, cancelled
):
    created = await client.post(
        URL,
        json=series(patient["id"], therapist.id, WEEKLY[0], "2030-01-07T09:50:00+01:00"),
    )
    assert created.status_code == 201, created.text
    freeze(monkeypatch, datetime.fromisoformat(now))

    response = await client.post(f"{URL}{created.json()['id']}/cancel/", json={})

    assert response.status_code == 200, response.text
    statuses = [a["status"] for a in response.json()["appointments"]]
    assert statuses == ["cancelled" if gone else "booked" for gone in cancelled]


WINTER = ("2030-01-07T09:00:00+01:00", "2030-01-07T09:50:00+01:00")
# 02:30 on the spring night of 2030-03-31 does not exist: that occurrence is 03:30 +02:00.
SPRING_2030 = ("2030-03-24T02:30:00+01:00", "2030-03-24T03:00:00+01:00")


@pytest.mark.parametrize(
    ("first", "until", "count"),
    [
        (WINTER, "20300121T090000", 3),  # the clinic's wall time of the third start: it counts
        (WINTER, "20300121T085959", 2),  # a second before it
        (WINTER, "20300121T080000Z", 3),  # the same instant in UTC
        (WINTER, "20300121T075959Z", 2),
        (WINTER, "20300121", 3),  # a date: the end of that day
        (WINTER, "20300120", 2),
        (SPRING_2030, "20300331T023000", 2),  # the skipped wall time, moved forward as well
        (SPRING_2030, "20300331T013000Z", 2),
        (SPRING_2030, "20300331T012959Z", 1),
    ],
)
async def test_until_at_its_edge(client, therapist, patient, first, until, count):
    payload = series(
        patient["id"],
        therapist.id,
        *first,
        rrule=f"FREQ=WEEKLY;UNTIL={until}",
        override_availability=True,
    )

    response = await client.post(URL, json=payload)

    assert response.status_code == 201, response.text
    assert len(response.json()["appointments"]) == count

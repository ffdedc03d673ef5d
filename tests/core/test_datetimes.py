"""One rule for every datetime the API takes (app.core.fields.Instant): ISO 8601 text with an
offset, in the years 1900 to 2999 as written. At the calendar's edge it is a 400 naming the rule,
never a 500: 9999-12-31T23:00:00-14:00 is past the last datetime Python represents once in UTC,
and a window's end computed from such a start would overflow too."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from app.core.errors import validation_errors
from app.core.fields import DATETIME_FORMAT, DATETIME_RANGE, OFFSET_NEEDED, Instant, UtcInstant
from app.notes.schemas import AuthorizationCreate
from tests.appointments.conftest import (  # noqa: F401 - fixtures, used by name
    body,
    book,
    make_therapist,
    therapist,
)
from tests.factories import create_patient

INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)
UTC_INSTANT: TypeAdapter[datetime] = TypeAdapter(UtcInstant)

# Past the last instant (in UTC), before the first, and the first years out of the range.
OUT_OF_RANGE = [
    "9999-12-31T23:00:00-14:00",
    "9999-12-31T23:59:59+00:00",
    "9999-12-31T23:59:59.999999-23:59",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00+00:00",
    "3000-01-01T00:00:00+14:00",
    "1899-12-31T23:59:59-14:00",
]
# The extremes the API takes: the years' ends written with the offsets that push them furthest.
IN_RANGE_FIRST = "1900-01-01T00:00:00+14:00"
IN_RANGE_LAST = "2999-12-31T23:59:59.999999-14:00"

OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


def errors_of(adapter: TypeAdapter[datetime], value: Any) -> list[str]:
    try:
        adapter.validate_python(value)
    except ValidationError as error:
        return validation_errors(error.errors())["non_field_errors"]
    return []


@given(moment=st.datetimes(timezones=OFFSETS))
@example(moment=datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-14))))
@example(moment=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))))
@example(moment=datetime(2999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-14))))
@example(moment=datetime(1900, 1, 1, tzinfo=timezone(timedelta(hours=14))))
def test_an_instant_is_taken_in_range_and_far_from_the_calendars_edge(moment):
    text = moment.isoformat()
    if 1900 <= moment.year <= 2999:
        taken = INSTANT.validate_python(text)
        assert taken == moment
        assert taken.utcoffset() == moment.utcoffset()
        # What the services compute from one: its UTC, a window of 31 days either side.
        taken.astimezone(UTC) + timedelta(days=31)
        taken.astimezone(UTC) - timedelta(days=31)
        assert UTC_INSTANT.validate_python(text) == moment
        assert UTC_INSTANT.validate_python(text).utcoffset() == timedelta(0)
    else:
        assert errors_of(INSTANT, text) == [DATETIME_RANGE]
        assert errors_of(UTC_INSTANT, text) == [DATETIME_RANGE]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-03-30T09:00:00", OFFSET_NEEDED),
        ("2026-03-30", DATETIME_FORMAT),
        ("1700000000", DATETIME_FORMAT),
        (1700000000, DATETIME_FORMAT),
        ("10000-01-01T00:00:00Z", DATETIME_FORMAT),
        ("2026-02-30T09:00:00Z", DATETIME_FORMAT),
        ("", DATETIME_FORMAT),
    ],
)
def test_what_is_no_instant(value, message):
    assert errors_of(INSTANT, value) == [message]


def test_a_naive_datetime_is_utc_only_where_the_contract_says_so():
    assert UTC_INSTANT.validate_python("2026-03-30T09:00:00") == datetime(
        2026, 3, 30, 9, tzinfo=UTC
    )
    assert errors_of(UTC_INSTANT, "9999-12-31T23:59:59") == [DATETIME_RANGE]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_a_note_authorization_expiring_out_of_range(value):
    payload = {"recipient": "dr-lee", "purpose": "Consultation.", "expires_at": value}
    with pytest.raises(ValidationError) as raised:
        AuthorizationCreate.model_validate(payload)
    assert validation_errors(raised.value.errors()) == {"expires_at": [DATETIME_RANGE]}


# --- through the API --------------------------------------------------------------------------


@pytest.mark.parametrize("value", OUT_OF_RANGE)
async def test_availability_from_or_to_out_of_range(client, therapist, patient_client, value):  # noqa: F811
    patient = await create_patient(client)
    url = f"/api/therapists/{therapist.id}/availability/"
    for caller in (client, await patient_client(patient["id"])):
        for name in ("from", "to"):
            response = await caller.get(url, params={name: value})
            assert response.status_code == 400, response.text
            assert response.json() == {name: [DATETIME_RANGE]}


async def test_availability_at_the_ranges_end(client, therapist):  # noqa: F811
    """The default window's end (from + 7 days) lies past 2999, and is computed, not refused."""
    url = f"/api/therapists/{therapist.id}/availability/"
    response = await client.get(url, params={"from": IN_RANGE_LAST})
    assert response.status_code == 200, response.text
    response = await client.get(url, params={"from": IN_RANGE_FIRST, "to": IN_RANGE_LAST})
    assert response.status_code == 400  # longer than 31 days: the window's own rule
    assert list(response.json()) == ["to"]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
async def test_time_off_out_of_range(client, therapist, value):  # noqa: F811
    url = f"/api/therapists/{therapist.id}/time_off/"
    for start, end in ((value, IN_RANGE_LAST), (IN_RANGE_FIRST, value)):
        response = await client.post(url, json={"start": start, "end": end})
        assert response.status_code == 400, response.text
        assert response.json() == {("start" if start == value else "end"): [DATETIME_RANGE]}
    assert (await client.get(url)).json()["count"] == 0


async def test_time_off_at_the_ranges_ends(client, therapist):  # noqa: F811
    url = f"/api/therapists/{therapist.id}/time_off/"
    response = await client.post(url, json={"start": IN_RANGE_FIRST, "end": IN_RANGE_LAST})
    assert response.status_code == 201, response.text
    assert datetime.fromisoformat(response.json()["end"]) == datetime.fromisoformat(IN_RANGE_LAST)


@pytest.mark.parametrize("value", OUT_OF_RANGE)
async def test_bookings_moves_series_and_filters_out_of_range(client, therapist, value):  # noqa: F811
    patient = await create_patient(client)
    booked = await book(client, patient["id"], therapist.id)
    refused: list[tuple[str, httpx.Response]] = [
        (
            "start",
            await client.post(
                "/api/appointments/", json=body(patient["id"], therapist.id, start=value)
            ),
        ),
        (
            "end",
            await client.post(
                "/api/appointments/", json=body(patient["id"], therapist.id, end=value)
            ),
        ),
        (
            "start",
            await client.post(
                "/api/appointments/series/",
                json={
                    **body(patient["id"], therapist.id, start=value),
                    "rrule": "FREQ=WEEKLY;COUNT=2",
                },
            ),
        ),
        ("start", await client.patch(f"/api/appointments/{booked['id']}/", json={"start": value})),
        ("end", await client.patch(f"/api/appointments/{booked['id']}/", json={"end": value})),
        ("start_after", await client.get("/api/appointments/", params={"start_after": value})),
        ("start_before", await client.get("/api/appointments/", params={"start_before": value})),
    ]
    series = await client.post(
        "/api/appointments/series/",
        json={
            **body(
                patient["id"],
                therapist.id,
                start="2030-02-04T09:00:00+01:00",
                end="2030-02-04T09:50:00+01:00",
            ),
            "rrule": "FREQ=WEEKLY;COUNT=2",
        },
    )
    assert series.status_code == 201, series.text
    refused.append(
        (
            "from",
            await client.post(
                f"/api/appointments/series/{series.json()['id']}/cancel/", json={"from": value}
            ),
        )
    )
    for field, response in refused:
        assert response.status_code == 400, (field, response.text)
        assert response.json() == {field: [DATETIME_RANGE]}, field
    assert (await client.get(f"/api/appointments/{booked['id']}/")).json() == booked


@pytest.mark.parametrize("value", OUT_OF_RANGE)
async def test_a_session_date_out_of_range(client, value):
    patient = await create_patient(client)
    response = await client.post(
        f"/api/patients/{patient['id']}/add_session/", json={"date": value}
    )
    assert response.status_code == 400, response.text
    assert response.json() == {"date": [DATETIME_RANGE]}

"""Recurring series: every occurrence checked, in the clinic's wall time across DST."""

from datetime import UTC, datetime
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrule
from hypothesis import example, given
from hypothesis import strategies as st

from app.appointments.series import MAX_OCCURRENCES, WEEKDAYS, parse
from app.core.errors import ValidationFailed
from tests.appointments.conftest import body, book

URL = "/api/appointments/series/"


def series(
    patient: str, therapist: int, rrule: str = "FREQ=WEEKLY;COUNT=4", **overrides: Any
) -> dict[str, Any]:
    # 2030-03-31: Berlin moves to summer time; 09:00 stays 09:00.
    return {
        **body(
            patient, therapist, start="2030-03-18T09:00:00+01:00", end="2030-03-18T09:50:00+01:00"
        ),
        "rrule": rrule,
        **overrides,
    }


async def test_a_series_keeps_its_wall_time_across_dst(client, therapist, patient):
    response = await client.post(URL, json=series(patient["id"], therapist.id))
    assert response.status_code == 201, response.text
    created = response.json()
    assert [a["start"] for a in created["appointments"]] == [
        "2030-03-18T09:00:00+01:00",
        "2030-03-25T09:00:00+01:00",
        "2030-04-01T09:00:00+02:00",
        "2030-04-08T09:00:00+02:00",
    ]
    assert {a["series"] for a in created["appointments"]} == {created["id"]}
    assert created["skipped"] == []
    read = (await client.get(f"{URL}{created['id']}/")).json()
    assert [a["id"] for a in read["appointments"]] == [a["id"] for a in created["appointments"]]


async def test_conflicts_refuse_all_or_are_skipped(client, therapist, patient):
    taken = await book(
        client,
        patient["id"],
        therapist.id,
        start="2030-03-25T09:30:00+01:00",
        end="2030-03-25T10:00:00+01:00",
    )
    refused = await client.post(URL, json=series(patient["id"], therapist.id))
    assert refused.status_code == 409
    assert refused.json()["conflicts"] == [
        {
            "start": "2030-03-25T09:00:00+01:00",
            "end": "2030-03-25T09:50:00+01:00",
            "reason": "overlap",
            "conflicting_appointment": taken["id"],
        }
    ]
    listed = (await client.get("/api/appointments/")).json()
    assert listed["count"] == 1  # nothing of the series was booked
    skipped = await client.post(URL, json=series(patient["id"], therapist.id, skip_conflicts=True))
    assert skipped.status_code == 201
    assert len(skipped.json()["appointments"]) == 3
    assert skipped.json()["skipped"][0]["conflicting_appointment"] == taken["id"]


async def test_unavailable_occurrences(client, make_therapist, patient):
    late = await make_therapist(starts="08:00", ends="09:30")
    response = await client.post(
        URL,
        json={
            **series(patient["id"], late.id),
            "start": "2030-03-18T09:00:00+01:00",
            "end": "2030-03-18T10:00:00+01:00",
        },
    )
    assert response.status_code == 409
    assert {c["reason"] for c in response.json()["conflicts"]} == {"unavailable"}


async def test_rules_are_checked(client, therapist, patient):
    for rule, message in (
        ("FREQ=DAILY;COUNT=3", "Only FREQ=WEEKLY is supported."),
        ("FREQ=WEEKLY", "Give COUNT or UNTIL: a series must end."),
        ("FREQ=WEEKLY;INTERVAL=5;COUNT=3", "INTERVAL must be a whole number from 1 to 4."),
        ("FREQ=WEEKLY;COUNT=53", "COUNT must be a whole number from 1 to 52."),
        ("FREQ=WEEKLY;UNTIL=20330101", "A series has at most 52 occurrences."),
        (
            "FREQ=WEEKLY;BYMONTH=1;COUNT=2",
            "BYMONTH is not supported: use FREQ, INTERVAL, COUNT or UNTIL, BYDAY, WKST.",
        ),
    ):
        response = await client.post(URL, json=series(patient["id"], therapist.id, rule))
        assert response.status_code == 400, rule
        assert response.json() == {"rrule": [message]}, rule
    until = await client.post(
        URL, json=series(patient["id"], therapist.id, "FREQ=WEEKLY;INTERVAL=2;UNTIL=20300415")
    )
    assert until.status_code == 201
    assert len(until.json()["appointments"]) == 3


async def test_cancel_the_rest_of_a_series(client, therapist, patient):
    created = (await client.post(URL, json=series(patient["id"], therapist.id))).json()
    response = await client.post(
        f"{URL}{created['id']}/cancel/",
        json={"from": "2030-03-30T00:00:00+01:00", "reason": "Therapy ended."},
    )
    assert response.status_code == 200
    statuses = [a["status"] for a in response.json()["appointments"]]
    assert statuses == ["booked", "booked", "cancelled", "cancelled"]
    other = await therapist.client.post(f"{URL}{created['id']}/cancel/", json={})
    assert other.status_code == 200
    assert (await client.post(f"{URL}999999/cancel/", json={})).status_code == 404


BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2030, 3, 18, 8, tzinfo=UTC)
BYDAY = "BYDAY must list weekdays (MO, TU, WE, TH, FR, SA, SU), comma-separated, e.g. BYDAY=MO,TH; "


def refusal(text: str) -> str:
    with pytest.raises(ValidationFailed) as raised:
        parse(text, START, BERLIN)
    (message,) = raised.value.errors["rrule"]
    return message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Each malformed part is named, whatever else the rule lacks (BYDAY=XX used to be
        # "Give COUNT or UNTIL", and with COUNT "Not a valid RRULE.").
        ("FREQ=WEEKLY;BYDAY=XX", BYDAY + "XX is none."),
        ("FREQ=WEEKLY;BYDAY=XX;COUNT=2", BYDAY + "XX is none."),
        ("FREQ=WEEKLY;BYDAY=MO,XX;COUNT=2", BYDAY + "XX is none."),
        ("FREQ=WEEKLY;BYDAY=MO,,TH;COUNT=2", BYDAY + "an empty one is none."),
        ("FREQ=WEEKLY;BYDAY=1MO;COUNT=2", BYDAY + "1MO is none."),
        ("FREQ=WEEKLY;WKST=XX;COUNT=2", "WKST must be one weekday: MO, TU, WE, TH, FR, SA or SU."),
        ("FREQ=WEEKLY;INTERVAL=X", "INTERVAL must be a whole number from 1 to 4."),
        ("FREQ=WEEKLY;INTERVAL=0;COUNT=2", "INTERVAL must be a whole number from 1 to 4."),
        ("FREQ=WEEKLY;INTERVAL=\u00b2;COUNT=2", "INTERVAL must be a whole number from 1 to 4."),
        ("FREQ=WEEKLY;COUNT=\u00b2", "COUNT must be a whole number from 1 to 52."),
        ("FREQ=WEEKLY;COUNT=-1", "COUNT must be a whole number from 1 to 52."),
        ("FREQ=WEEKLY;COUNT=" + "9" * 400, "COUNT must be a whole number from 1 to 52."),
        ("FREQ=WEEKLY;COUNT=53", "COUNT must be a whole number from 1 to 52."),
        (
            "FREQ=WEEKLY;UNTIL=tomorrow",
            "UNTIL must be a date (20260601) or a date-time (20260601T000000Z).",
        ),
        ("FREQ=WEEKLY;UNTIL=20301399T000000Z", "UNTIL is not a valid date."),
        ("FREQ=WEEKLY;UNTIL=20300231", "UNTIL is not a valid date."),
        ("FREQ=WEEKLY;UNTIL=99991231T235959Z", "UNTIL: Use a date between 1900 and 2999."),
        ("FREQ=WEEKLY;UNTIL=00010101", "UNTIL: Use a date between 1900 and 2999."),
        ("COUNT=2", "FREQ is required: FREQ=WEEKLY."),
        ("FREQ=DAILY;COUNT=2", "Only FREQ=WEEKLY is supported."),
        (
            "FREQ=WEEKLY;BYMONTH=1;COUNT=2",
            "BYMONTH is not supported: use FREQ, INTERVAL, COUNT or UNTIL, BYDAY, WKST.",
        ),
        ("FREQ=WEEKLY;COUNT", "Write the rule as NAME=VALUE pairs, e.g. FREQ=WEEKLY;COUNT=10."),
        ("FREQ=WEEKLY;COUNT= ", "Write the rule as NAME=VALUE pairs, e.g. FREQ=WEEKLY;COUNT=10."),
        ("FREQ=WEEKLY;COUNT=2;COUNT=3", "COUNT is given twice."),
        # Only a rule whose parts are each well formed hears about the whole.
        ("FREQ=WEEKLY;BYDAY=MO,TH", "Give COUNT or UNTIL: a series must end."),
        ("FREQ=WEEKLY;COUNT=2;UNTIL=20300601", "Give COUNT or UNTIL, not both."),
    ],
)
def test_each_malformed_part_is_named(text, message):
    assert refusal(text) == message


def test_well_formed_rules_are_taken():
    for text in (
        "FREQ=WEEKLY;BYDAY=MO,TH;COUNT=4",
        "rrule:freq=weekly;byday=mo;wkst=su;interval=4;until=20300601",
        "FREQ=WEEKLY;UNTIL=20300601T000000Z",
    ):
        assert isinstance(parse(text, START, BERLIN), rrule)


PART = st.sampled_from(["FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "WKST", "X"])
# Well-formed values often enough that some rules are taken, and any text besides.
VALUE = st.one_of(
    st.sampled_from(["WEEKLY", "1", "3", "52", "20300601", "20300401T120000Z", "MO,TH", "SU"]),
    st.text(alphabet="WEKLYMOTUHFRSA0123456789,+-TZ\u00b2", max_size=10),
)
WHOLE_RULE = {
    "Write the rule as NAME=VALUE pairs, e.g. FREQ=WEEKLY;COUNT=10.",
    "FREQ is required: FREQ=WEEKLY.",
    "Only FREQ=WEEKLY is supported.",
    "INTERVAL must be a whole number from 1 to 4.",
    "COUNT must be a whole number from 1 to 52.",
    "WKST must be one weekday: MO, TU, WE, TH, FR, SA or SU.",
    "UNTIL must be a date (20260601) or a date-time (20260601T000000Z).",
    "UNTIL is not a valid date.",
    "UNTIL: Use a date between 1900 and 2999.",
    "Give COUNT or UNTIL: a series must end.",
    "Give COUNT or UNTIL, not both.",
}


def messages_about(parts: list[tuple[str, str]]) -> set[str]:
    """Every message a refusal of this rule may carry: the parser's own, naming its parts."""
    named = {
        message
        for name, value in parts
        for message in (
            f"{name} is given twice.",
            f"{name} is not supported: use FREQ, INTERVAL, COUNT or UNTIL, BYDAY, WKST.",
        )
    }
    days = {
        f"{BYDAY}{day.strip() or 'an empty one'} is none."
        for name, value in parts
        if name == "BYDAY"
        for day in value.strip().upper().split(",")
    }
    return WHOLE_RULE | named | days


def taken_or_refused(text: str) -> rrule | ValidationFailed:
    try:
        return parse(text, START, BERLIN)
    except ValidationFailed as refused:
        return refused


@given(
    parts=st.one_of(
        st.lists(st.tuples(PART, VALUE), max_size=5),
        # Weekly, each part once: what is left to refuse is in the values.
        st.lists(st.tuples(PART, VALUE), max_size=5, unique_by=lambda part: part[0]).map(
            lambda parts: [("FREQ", "WEEKLY"), *(p for p in parts if p[0] not in ("FREQ", "X"))]
        ),
    )
)
@example(parts=[("FREQ", "WEEKLY"), ("BYDAY", "XX")])
@example(parts=[("FREQ", "WEEKLY"), ("BYDAY", "TU,FR"), ("INTERVAL", "2"), ("COUNT", "5")])
@example(parts=[("FREQ", "WEEKLY"), ("UNTIL", "20300501"), ("WKST", "SU")])
@example(parts=[("FREQ", "WEEKLY"), ("COUNT", "3"), ("UNTIL", "20300501")])
def test_no_rule_is_an_error_of_ours(parts):
    """Taken as a weekly rule from the start at its wall time, or refused with one of the
    parser's messages on `rrule` alone: never another exception (a 500)."""
    text = ";".join(f"{name}={value}" for name, value in parts)
    rule = taken_or_refused(text)
    if isinstance(rule, ValidationFailed):
        assert list(rule.errors) == ["rrule"], rule.errors
        (message,) = rule.errors["rrule"]
        assert message in messages_about(parts), (text, message)
        return
    given_parts = {name: value.strip().upper() for name, value in parts}
    days = {day.strip() for day in given_parts.get("BYDAY", "MO").split(",")}
    starts = list(islice(iter(rule), MAX_OCCURRENCES + 1))
    local = START.astimezone(BERLIN)
    for one in starts:
        assert one >= START
        assert (one.hour, one.minute) == (local.hour, local.minute)
        assert WEEKDAYS[one.weekday()] in days
    if "COUNT" in given_parts:
        assert len(starts) == int(given_parts["COUNT"])

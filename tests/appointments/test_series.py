"""Recurring series: every occurrence checked, in the clinic's wall time across DST."""

from typing import Any

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
    for rule, words in (
        ("FREQ=DAILY;COUNT=3", "FREQ=WEEKLY"),
        ("FREQ=WEEKLY", "COUNT or UNTIL"),
        ("FREQ=WEEKLY;INTERVAL=5;COUNT=3", "INTERVAL"),
        ("FREQ=WEEKLY;COUNT=53", "COUNT"),
        ("FREQ=WEEKLY;UNTIL=20330101", "52"),
        ("FREQ=WEEKLY;BYMONTH=1;COUNT=2", "BYMONTH"),
    ):
        response = await client.post(URL, json=series(patient["id"], therapist.id, rule))
        assert response.status_code == 400, rule
        assert words in response.json()["rrule"][0], (rule, response.json())
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

"""Weekly hours and time off: read by staff, changed by an admin or the therapist themself."""

import pytest

from tests.therapists.conftest import staff_id

WEEK = [
    {"weekday": 1, "start": "13:00", "end": "17:00"},
    {"weekday": 1, "start": "09:00", "end": "12:00"},
    {"weekday": 5, "start": "08:30", "end": "12:30"},
]


async def test_a_therapist_sets_their_own_week_and_staff_read_it(client, make_therapist):
    therapist = await make_therapist()
    path = f"/api/therapists/{therapist.id}/hours/"
    assert (await client.get(path)).json() == {"timezone": "Europe/Berlin", "hours": []}

    put = await therapist.client.put(path, json={"hours": WEEK})

    assert put.status_code == 200, put.text
    expected = {
        "timezone": "Europe/Berlin",
        "hours": [
            {"weekday": 1, "start": "09:00", "end": "12:00"},
            {"weekday": 1, "start": "13:00", "end": "17:00"},
            {"weekday": 5, "start": "08:30", "end": "12:30"},
        ],
    }
    assert put.json() == expected
    assert (await client.get(path)).json() == expected
    replaced = await client.put(path, json={"hours": [WEEK[2]]})
    assert replaced.json()["hours"] == [{"weekday": 5, "start": "08:30", "end": "12:30"}]
    assert (await client.put(path, json={"hours": []})).json()["hours"] == []


async def test_only_an_admin_or_the_therapist_themself_changes_the_week(
    client, make_therapist, patient_client, engine
):
    therapist = await make_therapist()
    other = await make_therapist()
    _, patient = await patient_client()
    path = f"/api/therapists/{therapist.id}/hours/"

    assert (await other.client.put(path, json={"hours": WEEK})).status_code == 403
    assert (await patient.put(path, json={"hours": WEEK})).status_code == 403
    assert (await patient.get(path)).status_code == 403
    assert (await other.client.get(path)).status_code == 200
    admin_id = await staff_id(engine, "admin")
    assert (
        await client.put(f"/api/therapists/{admin_id}/hours/", json={"hours": WEEK})
    ).status_code == 404
    assert (await client.get(f"/api/therapists/{admin_id}/hours/")).status_code == 404
    assert (await client.get(path)).json()["hours"] == []


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        (
            [
                {"weekday": 1, "start": "09:00", "end": "12:00"},
                {"weekday": 1, "start": "11:00", "end": "13:00"},
            ],
            "Hours on weekday 1 overlap: 09:00-12:00 and 11:00-13:00.",
        ),
        ([{"weekday": 2, "start": "12:00", "end": "12:00"}], "Item 1: start must be before end."),
        ([{"weekday": 2, "start": "13:00", "end": "12:00"}], "Item 1: start must be before end."),
    ],
)
async def test_overlapping_or_reversed_hours_are_a_400(client, make_therapist, hours, message):
    therapist = await make_therapist()
    response = await client.put(f"/api/therapists/{therapist.id}/hours/", json={"hours": hours})
    assert response.status_code == 400
    assert response.json() == {"hours": [message]}


@pytest.mark.parametrize(
    "stretch",
    [
        {"weekday": 0, "start": "09:00", "end": "12:00"},
        {"weekday": 8, "start": "09:00", "end": "12:00"},
        {"weekday": True, "start": "09:00", "end": "12:00"},
        {"weekday": 1, "start": "09:00:30", "end": "12:00"},
        {"weekday": 1, "start": "25:00", "end": "26:00"},
        {"weekday": 1, "start": "09:00"},
    ],
)
async def test_a_bad_stretch_is_a_400(client, make_therapist, stretch):
    therapist = await make_therapist()
    response = await client.put(f"/api/therapists/{therapist.id}/hours/", json={"hours": [stretch]})
    assert response.status_code == 400, response.text
    assert list(response.json()) == ["hours"]


async def test_time_off_is_added_listed_and_removed(client, make_therapist, patient_client):
    therapist = await make_therapist()
    other = await make_therapist()
    _, patient = await patient_client()
    path = f"/api/therapists/{therapist.id}/time_off/"
    body = {"start": "2031-08-04T00:00:00Z", "end": "2031-08-16T00:00:00+02:00", "reason": "Leave"}

    created = await therapist.client.post(path, json=body)

    assert created.status_code == 201, created.text
    time_off = created.json()
    assert time_off["start"] == "2031-08-04T02:00:00+02:00"
    assert time_off["end"] == "2031-08-16T00:00:00+02:00"
    assert time_off["reason"] == "Leave"
    assert set(time_off) == {"id", "start", "end", "reason", "created_at"}
    winter = await client.post(
        path, json={"start": "2031-12-24T00:00:00+01:00", "end": "2031-12-27T00:00:00+01:00"}
    )
    assert winter.json()["start"] == "2031-12-24T00:00:00+01:00"
    page = (await other.client.get(path)).json()
    assert page["count"] == 2
    assert [t["id"] for t in page["results"]] == [time_off["id"], winter.json()["id"]]

    assert (await other.client.post(path, json=body)).status_code == 403
    assert (await patient.post(path, json=body)).status_code == 403
    assert (await patient.get(path)).status_code == 403
    assert (await other.client.delete(f"{path}{time_off['id']}/")).status_code == 403
    other_path = f"/api/therapists/{other.id}/time_off/{time_off['id']}/"
    assert (await client.delete(other_path)).status_code == 404

    assert (await therapist.client.delete(f"{path}{time_off['id']}/")).status_code == 204
    assert (await client.delete(f"{path}{time_off['id']}/")).status_code == 404
    assert (await client.get(path)).json()["count"] == 1


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"start": "2031-08-04T00:00:00", "end": "2031-08-05T00:00:00Z"},
            {"start": ["Include a time zone offset, e.g. 2026-03-30T09:00:00+02:00."]},
        ),
        (
            {"start": "2031-08-05T00:00:00Z", "end": "2031-08-04T00:00:00Z"},
            {"end": ["Must be after start."]},
        ),
        (
            {"start": "2031-08-05T00:00:00Z", "end": "2031-08-05T00:00:00Z"},
            {"end": ["Must be after start."]},
        ),
        ({"start": "2031-08-05T00:00:00Z"}, {"end": ["This field is required."]}),
        (
            {"start": "2031-08-04T00:00:00Z", "end": "2031-08-05T00:00:00Z", "reason": "x" * 256},
            {"reason": ["Ensure this field has no more than 255 characters."]},
        ),
    ],
)
async def test_bad_time_off_is_a_400(client, make_therapist, body, errors):
    therapist = await make_therapist()
    response = await client.post(f"/api/therapists/{therapist.id}/time_off/", json=body)
    assert response.status_code == 400
    assert response.json() == errors


async def test_time_off_of_an_unknown_therapist_is_a_404(client, engine):
    admin_id = await staff_id(engine, "admin")
    body = {"start": "2031-08-04T00:00:00Z", "end": "2031-08-05T00:00:00Z"}
    assert (
        await client.post(f"/api/therapists/{admin_id}/time_off/", json=body)
    ).status_code == 404
    assert (await client.get(f"/api/therapists/{admin_id}/time_off/")).status_code == 404
    assert (await client.get("/api/therapists/424242/time_off/")).status_code == 404


async def test_a_retried_time_off_with_its_idempotency_key_is_added_once(client, make_therapist):
    therapist = await make_therapist()
    path = f"/api/therapists/{therapist.id}/time_off/"
    body = {"start": "2031-08-04T00:00:00Z", "end": "2031-08-05T00:00:00Z"}
    headers = {"Idempotency-Key": "leave-2031-08"}

    first = await client.post(path, json=body, headers=headers)
    again = await client.post(path, json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await client.get(path)).json()["count"] == 1

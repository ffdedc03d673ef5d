"""The four actions (add_tag, remove_tag, add_session, update_wallet); none loses an update."""

import asyncio
import uuid
from datetime import datetime

import pytest

from tests.factories import create_patient


def action(patient_id: str, name: str) -> str:
    return f"/api/patients/{patient_id}/{name}/"


async def test_add_tag_trims_appends_and_is_idempotent(client):
    patient = await create_patient(client, tags=["grief"])
    first = await client.post(action(patient["id"], "add_tag"), json={"tag": "  anxiety "})
    assert first.status_code == 200
    assert first.json()["tags"] == ["grief", "anxiety"]

    again = await client.post(action(patient["id"], "add_tag"), json={"tag": "anxiety"})
    assert again.status_code == 200
    assert again.json()["tags"] == ["grief", "anxiety"]
    assert again.json()["updated_at"] == first.json()["updated_at"]


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("", "This field may not be blank."),
        ("   ", "This field may not be blank."),
        ("x" * 51, "Ensure this field has no more than 50 characters."),
        (None, "This field may not be null."),
        (7, "Not a valid string."),
    ],
)
async def test_add_tag_rejects_invalid_tags(client, tag, message):
    patient = await create_patient(client)
    response = await client.post(action(patient["id"], "add_tag"), json={"tag": tag})
    assert response.status_code == 400
    assert response.json() == {"tag": [message]}


async def test_add_tag_accepts_fifty_character_tag(client):
    patient = await create_patient(client)
    response = await client.post(action(patient["id"], "add_tag"), json={"tag": "x" * 50})
    assert response.status_code == 200
    assert response.json()["tags"] == ["x" * 50]


async def test_add_tag_requires_the_tag_field(client):
    patient = await create_patient(client)
    response = await client.post(action(patient["id"], "add_tag"), json={})
    assert response.status_code == 400
    assert response.json() == {"tag": ["This field is required."]}


async def test_fifty_first_tag_is_refused_and_changes_nothing(client):
    tags = [f"t{i}" for i in range(50)]
    patient = await create_patient(client, tags=tags)

    refused = await client.post(action(patient["id"], "add_tag"), json={"tag": "one-too-many"})
    assert refused.status_code == 400
    assert list(refused.json()) == ["tag"]

    existing = await client.post(action(patient["id"], "add_tag"), json={"tag": "t7"})
    assert existing.status_code == 200
    stored = await client.get(f"/api/patients/{patient['id']}/")
    assert stored.json()["tags"] == tags


async def test_remove_tag_removes_only_that_tag(client):
    patient = await create_patient(client, tags=["a", "b", "c"])
    response = await client.post(action(patient["id"], "remove_tag"), json={"tag": " b "})
    assert response.status_code == 200
    assert response.json()["tags"] == ["a", "c"]


async def test_remove_missing_tag_changes_nothing(client):
    patient = await create_patient(client, tags=["a"])
    response = await client.post(action(patient["id"], "remove_tag"), json={"tag": "zzz"})
    assert response.status_code == 200
    assert response.json()["tags"] == ["a"]
    assert response.json()["updated_at"] == patient["updated_at"]


async def test_add_session_stores_server_fields_and_nulls(client):
    patient = await create_patient(client)
    response = await client.post(
        action(patient["id"], "add_session"),
        json={
            "date": "2024-05-01T14:30:00+02:00",
            "id": "client-id",
            "created_at": "1999-01-01T00:00:00Z",
        },
    )
    assert response.status_code == 200
    (session,) = response.json()["sessions"]
    assert set(session) == {
        "id",
        "date",
        "duration_minutes",
        "therapist",
        "notes",
        "created_at",
        "appointment",  # the appointment a fulfilled one adds it for; null here
    }
    assert session["appointment"] is None
    assert str(uuid.UUID(session["id"])) == session["id"]
    assert datetime.fromisoformat(session["date"]) == datetime.fromisoformat(
        "2024-05-01T12:30:00+00:00"
    )
    assert session["created_at"].startswith(str(datetime.now().year))
    assert (session["duration_minutes"], session["therapist"], session["notes"]) == (
        None,
        None,
        None,
    )


async def test_add_session_appends_in_order(client):
    patient = await create_patient(client)
    for minutes in (30, 50, 90):
        body = {
            "date": "2024-05-01T14:30:00Z",
            "duration_minutes": minutes,
            "therapist": "Dr. Rivera",
            "notes": "…",
        }
        response = await client.post(action(patient["id"], "add_session"), json=body)
        assert response.status_code == 200
    sessions = response.json()["sessions"]
    assert [s["duration_minutes"] for s in sessions] == [30, 50, 90]
    assert len({s["id"] for s in sessions}) == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "date"),
        ({"date": "not a date"}, "date"),
        ({"date": 1714570200}, "date"),
        ({"date": "1714570200"}, "date"),
        ({"date": None}, "date"),
        ({"date": "2024-05-01T14:30:00Z", "duration_minutes": 0}, "duration_minutes"),
        ({"date": "2024-05-01T14:30:00Z", "duration_minutes": 481}, "duration_minutes"),
        ({"date": "2024-05-01T14:30:00Z", "duration_minutes": 50.5}, "duration_minutes"),
        ({"date": "2024-05-01T14:30:00Z", "duration_minutes": True}, "duration_minutes"),
        ({"date": "2024-05-01T14:30:00Z", "therapist": "x" * 101}, "therapist"),
        ({"date": "2024-05-01T14:30:00Z", "notes": "x" * 2001}, "notes"),
        ({"date": "2024-05-01T14:30:00Z", "notes": "nul\x00byte"}, "notes"),
    ],
)
async def test_add_session_rejects_invalid_sessions(client, body, field):
    patient = await create_patient(client)
    response = await client.post(action(patient["id"], "add_session"), json=body)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    stored = await client.get(f"/api/patients/{patient['id']}/")
    assert stored.json()["sessions"] == []


@pytest.mark.parametrize(
    "body",
    [
        {
            "date": "2024-05-01T14:30:00Z",
            "duration_minutes": 1,
            "therapist": "x" * 100,
            "notes": "x" * 2000,
        },
        {"date": "2024-05-01T14:30:00Z", "duration_minutes": 480},
    ],
)
async def test_add_session_accepts_boundaries(client, body):
    patient = await create_patient(client)
    response = await client.post(action(patient["id"], "add_session"), json=body)
    assert response.status_code == 200
    assert response.json()["sessions"][0]["duration_minutes"] == body["duration_minutes"]


async def test_update_wallet_adds_signed_amounts(client):
    patient = await create_patient(client)
    credited = await client.post(action(patient["id"], "update_wallet"), json={"amount": "25.50"})
    assert credited.status_code == 200
    assert credited.json()["wallet_balance"] == "25.50"
    debited = await client.post(action(patient["id"], "update_wallet"), json={"amount": "-0.5"})
    assert debited.json()["wallet_balance"] == "25.00"
    numeric = await client.post(action(patient["id"], "update_wallet"), json={"amount": 10})
    assert numeric.json()["wallet_balance"] == "35.00"


async def test_update_wallet_to_exactly_zero_and_to_the_maximum(client):
    patient = await create_patient(client)
    path = action(patient["id"], "update_wallet")
    assert (await client.post(path, json={"amount": "1.25"})).json()["wallet_balance"] == "1.25"
    assert (await client.post(path, json={"amount": "-1.25"})).json()["wallet_balance"] == "0.00"
    for _ in range(99):
        await client.post(path, json={"amount": "1000000"})
    top = await client.post(path, json={"amount": "999999.99"})
    assert top.status_code == 200
    assert top.json()["wallet_balance"] == "99999999.99"
    over = await client.post(path, json={"amount": "0.01"})
    assert over.status_code == 400
    assert list(over.json()) == ["amount"]


async def test_update_wallet_below_zero_is_refused_and_changes_nothing(client):
    patient = await create_patient(client)
    path = action(patient["id"], "update_wallet")
    await client.post(path, json={"amount": "5.00"})
    response = await client.post(path, json={"amount": "-5.01"})
    assert response.status_code == 400
    assert list(response.json()) == ["amount"]
    stored = await client.get(f"/api/patients/{patient['id']}/")
    assert stored.json()["wallet_balance"] == "5.00"


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "Amount must not be zero."),
        ("0.00", "Amount must not be zero."),
        ("1.005", "Ensure that there are no more than 2 decimal places."),
        ("1000000.01", "Ensure this value is less than or equal to 1000000."),
        ("-1000000.01", "Ensure this value is greater than or equal to -1000000."),
        ("abc", "A valid number is required."),
        ("NaN", "A valid number is required."),
        ("Infinity", "A valid number is required."),
        (True, "A valid number is required."),
        (None, "This field may not be null."),
    ],
)
async def test_update_wallet_rejects_invalid_amounts(client, amount, message):
    patient = await create_patient(client)
    response = await client.post(action(patient["id"], "update_wallet"), json={"amount": amount})
    assert response.status_code == 400
    assert response.json() == {"amount": [message]}


@pytest.mark.parametrize("amount", ["1000000", "1000000.00", "0.01"])
async def test_update_wallet_accepts_boundary_amounts(client, amount):
    patient = await create_patient(client)
    response = await client.post(action(patient["id"], "update_wallet"), json={"amount": amount})
    assert response.status_code == 200


@pytest.mark.parametrize("name", ["add_tag", "remove_tag", "add_session", "update_wallet"])
async def test_actions_on_unknown_patient_are_404(client, name):
    body = {"tag": "a", "date": "2024-05-01T14:30:00Z", "amount": "1.00"}
    response = await client.post(action("p_zzzzzz", name), json=body)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


async def test_concurrent_wallet_updates_lose_nothing(client):
    patient = await create_patient(client)
    path = action(patient["id"], "update_wallet")
    responses = await asyncio.gather(
        *(client.post(path, json={"amount": "1.00"}) for _ in range(100))
    )
    assert [r.status_code for r in responses] == [200] * 100
    stored = await client.get(f"/api/patients/{patient['id']}/")
    assert stored.json()["wallet_balance"] == "100.00"


async def test_concurrent_debits_never_overdraw(client):
    patient = await create_patient(client)
    path = action(patient["id"], "update_wallet")
    await client.post(path, json={"amount": "10.00"})
    responses = await asyncio.gather(
        *(client.post(path, json={"amount": "-1.00"}) for _ in range(30))
    )
    assert sorted(r.status_code for r in responses) == [200] * 10 + [400] * 20
    stored = await client.get(f"/api/patients/{patient['id']}/")
    assert stored.json()["wallet_balance"] == "0.00"


async def test_concurrent_tag_changes_lose_nothing(client):
    patient = await create_patient(client, tags=[f"old{i}" for i in range(25)])
    adds = (
        client.post(action(patient["id"], "add_tag"), json={"tag": f"new{i}"}) for i in range(25)
    )
    removes = (
        client.post(action(patient["id"], "remove_tag"), json={"tag": f"old{i}"}) for i in range(25)
    )
    responses = await asyncio.gather(*adds, *removes)
    assert {r.status_code for r in responses} == {200}
    stored = await client.get(f"/api/patients/{patient['id']}/")
    assert sorted(stored.json()["tags"]) == sorted(f"new{i}" for i in range(25))


async def test_concurrent_sessions_lose_nothing(client):
    patient = await create_patient(client)
    path = action(patient["id"], "add_session")
    bodies = ({"date": "2024-05-01T14:30:00Z", "duration_minutes": i} for i in range(1, 101))
    responses = await asyncio.gather(*(client.post(path, json=body) for body in bodies))
    assert {r.status_code for r in responses} == {200}
    stored = await client.get(f"/api/patients/{patient['id']}/")
    assert sorted(s["duration_minutes"] for s in stored.json()["sessions"]) == list(range(1, 101))

"""Idempotency-Key on POST: a retry gets the first response and changes nothing; another body
is a 422; a retry while the first runs is a 409; keys belong to their caller and expire."""

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import text

from tests.factories import create_patient, patient_payload
from tests.locks import advisory_locks

KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"


IN_PROGRESS = "A request with this Idempotency-Key is still being processed; retry later."


def wallet(patient_id: str) -> str:
    return f"/api/patients/{patient_id}/update_wallet/"


async def balance(client, patient_id: str) -> str:
    patient = (await client.get(f"/api/patients/{patient_id}/")).json()
    return str(patient["wallet_balance"])


async def ledger_rows(client, patient_id: str) -> int:
    count: int = (await client.get(f"/api/patients/{patient_id}/wallet_transactions/")).json()[
        "count"
    ]
    return count


async def test_a_retried_create_returns_the_first_response_and_creates_nothing(client):
    body = patient_payload()
    first = await client.post("/api/patients/", json=body, headers={"Idempotency-Key": KEY})
    retry = await client.post("/api/patients/", json=body, headers={"Idempotency-Key": KEY})

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["etag"] == first.headers["etag"]
    assert retry.headers["content-type"] == "application/json"
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert (await client.get("/api/patients/")).json()["count"] == 1


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("add_tag", {"tag": "anxiety"}),
        ("remove_tag", {"tag": "grief"}),
        ("add_session", {"date": "2024-05-01T14:30:00Z", "notes": "first"}),
        ("update_wallet", {"amount": "5.00"}),
    ],
)
async def test_a_retried_action_is_applied_once(client, action, body):
    patient = await create_patient(client, tags=["grief"])
    path = f"/api/patients/{patient['id']}/{action}/"
    first = await client.post(path, json=body, headers={"Idempotency-Key": KEY})
    await client.post(f"/api/patients/{patient['id']}/add_tag/", json={"tag": "grief"})
    retry = await client.post(path, json=body, headers={"Idempotency-Key": KEY})

    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    now = (await client.get(f"/api/patients/{patient['id']}/")).json()
    assert len(now["sessions"]) == (1 if action == "add_session" else 0)
    assert now["wallet_balance"] == ("5.00" if action == "update_wallet" else "0.00")


async def test_a_replayed_retry_storm_on_update_wallet_applies_once(client):
    patient = await create_patient(client)
    body = {"amount": "1.00", "reason": "storm"}
    first = await client.post(wallet(patient["id"]), json=body, headers={"Idempotency-Key": KEY})

    storm = await asyncio.gather(
        *(
            client.post(wallet(patient["id"]), json=body, headers={"Idempotency-Key": KEY})
            for _ in range(50)
        )
    )

    assert {r.status_code for r in storm} == {200}
    assert all(r.json() == first.json() for r in storm)
    assert await balance(client, patient["id"]) == "1.00"
    assert await ledger_rows(client, patient["id"]) == 1


async def test_a_concurrent_storm_from_the_start_applies_once(client):
    patient = await create_patient(client)
    storm = await asyncio.gather(
        *(
            client.post(
                wallet(patient["id"]), json={"amount": "1.00"}, headers={"Idempotency-Key": KEY}
            )
            for _ in range(30)
        )
    )

    # Which ones overlap the first is the scheduler's choice (the 409 is pinned down below):
    # each is the first's answer again, or the contract's 409; the update happens once.
    answered = [r for r in storm if r.status_code == 200]
    assert all(r.json() == answered[0].json() for r in answered)
    assert await balance(client, patient["id"]) == "1.00"
    assert answered[0].json()["wallet_balance"] == "1.00"
    assert await ledger_rows(client, patient["id"]) == 1
    refused = [r for r in storm if r.status_code != 200]
    assert [(r.status_code, r.headers["retry-after"], r.json()) for r in refused] == [
        (409, "1", {"detail": IN_PROGRESS})
    ] * len(refused)


async def test_a_retry_while_the_first_still_runs_is_a_409(client, engine):
    patient = await create_patient(client)
    headers = {"Idempotency-Key": KEY}
    async with engine.begin() as blocker:  # the first request will wait on the patient's row
        await blocker.execute(
            text("SELECT 1 FROM patients WHERE id = :id FOR UPDATE"), {"id": patient["id"]}
        )
        first = asyncio.create_task(
            client.post(wallet(patient["id"]), json={"amount": "1.00"}, headers=headers)
        )
        await advisory_locks(engine, 1, granted=True)  # the first holds its key, and waits
        retry = await client.post(wallet(patient["id"]), json={"amount": "1.00"}, headers=headers)
        assert retry.status_code == 409, retry.text
        assert retry.headers["retry-after"] == "1"
        assert retry.json() == {"detail": IN_PROGRESS}
    answer = await first
    assert answer.status_code == 200, answer.text
    assert answer.json()["wallet_balance"] == "1.00"
    again = await client.post(wallet(patient["id"]), json={"amount": "1.00"}, headers=headers)
    assert again.status_code == 200
    assert again.json() == answer.json()
    assert await ledger_rows(client, patient["id"]) == 1


async def test_different_keys_are_different_requests(client):
    patient = await create_patient(client)
    for key in ("a", "b", "c"):
        response = await client.post(
            wallet(patient["id"]), json={"amount": "1.00"}, headers={"Idempotency-Key": key}
        )
        assert response.status_code == 200
    assert await balance(client, patient["id"]) == "3.00"


async def test_the_same_key_with_another_body_is_422_and_changes_nothing(client):
    patient = await create_patient(client)
    await client.post(
        wallet(patient["id"]), json={"amount": "1.00"}, headers={"Idempotency-Key": KEY}
    )

    other_body = await client.post(
        wallet(patient["id"]), json={"amount": "2.00"}, headers={"Idempotency-Key": KEY}
    )
    other_endpoint = await client.post(
        f"/api/patients/{patient['id']}/add_tag/",
        json={"tag": "x"},
        headers={"Idempotency-Key": KEY},
    )

    for response in (other_body, other_endpoint):
        assert response.status_code == 422
        assert response.json() == {
            "detail": "This Idempotency-Key was already used for a different request."
        }
    now = (await client.get(f"/api/patients/{patient['id']}/")).json()
    assert (now["wallet_balance"], now["tags"]) == ("1.00", [])


async def test_the_same_key_with_another_change_reason_is_422_even_one_too_long(client):
    # The reason is written with the change, so it is part of the request a retry repeats; the
    # header is read after the key, so a retry with one the header's rule refuses was replayed.
    body = patient_payload()
    first = await client.post(
        "/api/patients/", json=body, headers={"Idempotency-Key": KEY, "X-Change-Reason": "Intake"}
    )
    retry = await client.post(
        "/api/patients/", json=body, headers={"Idempotency-Key": KEY, "X-Change-Reason": "Intake"}
    )
    assert first.status_code == retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"

    for reason in (None, "Another", "r" * 501):
        headers = {"Idempotency-Key": KEY} | ({"X-Change-Reason": reason} if reason else {})
        other = await client.post("/api/patients/", json=body, headers=headers)
        assert other.status_code == 422, reason
        assert other.json() == {
            "detail": "This Idempotency-Key was already used for a different request."
        }
    assert (await client.get("/api/patients/")).json()["count"] == 1


async def test_a_retry_while_the_first_is_running_is_409(client, engine):
    patient = await create_patient(client)
    caller = "staff:" + (await admin_id(engine))
    async with engine.connect() as in_flight:  # holds the key as a running request would
        await in_flight.execute(
            text("SELECT pg_advisory_lock(hashtextextended(:k, 0))"), {"k": f"{caller} {KEY}"}
        )
        busy = await client.post(
            wallet(patient["id"]), json={"amount": "1.00"}, headers={"Idempotency-Key": KEY}
        )
        other_key = await client.post(
            wallet(patient["id"]), json={"amount": "1.00"}, headers={"Idempotency-Key": "other"}
        )
        await in_flight.execute(text("SELECT pg_advisory_unlock_all()"))

    assert busy.status_code == 409
    assert busy.json() == {
        "detail": "A request with this Idempotency-Key is still being processed; retry later."
    }
    assert other_key.status_code == 200
    assert await balance(client, patient["id"]) == "1.00"


async def admin_id(engine) -> str:
    async with engine.connect() as connection:
        return str(await connection.scalar(text("SELECT id FROM staff WHERE username = 'admin'")))


async def test_keys_belong_to_their_caller(client, staff_client):
    patient = await create_patient(client)
    therapist = await staff_client("therapist")
    body = {"amount": "1.00"}
    for caller in (client, therapist):
        response = await caller.post(
            wallet(patient["id"]), json=body, headers={"Idempotency-Key": KEY}
        )
        assert response.status_code == 200
        assert "idempotent-replayed" not in response.headers
    assert await balance(client, patient["id"]) == "2.00"


async def test_a_failed_request_is_not_remembered(client):
    patient = await create_patient(client)
    headers = {"Idempotency-Key": KEY}
    refused = await client.post(wallet(patient["id"]), json={"amount": "-1.00"}, headers=headers)
    assert refused.status_code == 400
    await client.post(wallet(patient["id"]), json={"amount": "5.00"})

    retried = await client.post(wallet(patient["id"]), json={"amount": "-1.00"}, headers=headers)

    assert retried.status_code == 200
    assert await balance(client, patient["id"]) == "4.00"


async def test_an_expired_key_may_be_used_again(client, engine):
    patient = await create_patient(client)
    headers = {"Idempotency-Key": KEY}
    await client.post(wallet(patient["id"]), json={"amount": "1.00"}, headers=headers)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE idempotent_responses SET created_at = now() - interval '24 hours 1 second'"
            )
        )

    again = await client.post(wallet(patient["id"]), json={"amount": "1.00"}, headers=headers)

    assert again.status_code == 200
    assert "idempotent-replayed" not in again.headers
    assert await balance(client, patient["id"]) == "2.00"


async def test_expired_responses_are_pruned(client, engine):
    patient = await create_patient(client)
    for key in ("old-1", "old-2"):
        await client.post(
            wallet(patient["id"]), json={"amount": "1.00"}, headers={"Idempotency-Key": key}
        )
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE idempotent_responses SET created_at = now() - interval '2 days'")
        )
    await client.post(
        wallet(patient["id"]), json={"amount": "1.00"}, headers={"Idempotency-Key": "new"}
    )

    async with engine.connect() as connection:
        keys = (await connection.scalars(text("SELECT key FROM idempotent_responses"))).all()
    assert keys == ["new"]


async def test_stored_responses_are_encrypted(client, engine):
    await client.post(
        "/api/patients/", json=patient_payload(ssn="123-45-6789"), headers={"Idempotency-Key": KEY}
    )
    async with engine.connect() as connection:
        stored = await connection.scalar(text("SELECT body FROM idempotent_responses"))
    assert "123-45-6789" not in stored
    assert stored.startswith("v1:")


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ('"quoted-key"', True),
        ("k" * 255, True),
        ("k" * 256, False),
        ("", False),
        ('""', False),
        ("caf\u00e9", False),
    ],
)
async def test_key_format(client, header, accepted):
    patient = await create_patient(client)
    response = await client.post(
        wallet(patient["id"]),
        json={"amount": "1.00"},
        headers=[("Idempotency-Key", header.encode("utf-8"))],
    )
    if accepted:
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert response.json() == {
            "detail": "Idempotency-Key must be 1-255 printable ASCII characters."
        }
        assert await balance(client, patient["id"]) == "0.00"


async def test_without_a_key_every_post_applies(client):
    patient = await create_patient(client)
    for _ in range(2):
        await client.post(wallet(patient["id"]), json={"amount": "1.00"})
    assert Decimal(await balance(client, patient["id"])) == Decimal("2.00")

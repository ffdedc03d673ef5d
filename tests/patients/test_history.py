"""A patient record's history: a version per change, written with the change; reading versions,
and restoring one as a new version."""

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from app.patients.repository import EMAIL_NOT_USABLE
from tests.factories import create_patient, patient_payload, unique_phone


def history(patient_id: str) -> str:
    return f"/api/patients/{patient_id}/history/"


def version(patient_id: str, number: int | str) -> str:
    return f"/api/patients/{patient_id}/history/{number}/"


def etag(response) -> int:
    return int(response.headers["ETag"].strip('"'))


async def test_a_create_is_the_first_version_and_its_etag_names_it(client):
    created = await client.post("/api/patients/", json=_payload())
    patient = created.json()
    page = (await client.get(history(patient["id"]))).json()
    assert page["count"] == 1
    [first] = page["results"]
    assert first["version"] == etag(created)
    assert first["action"] == "created"
    assert first["actor"] == "admin"
    assert first["actor_kind"] == "staff"
    assert {"first_name", "ssn", "password"} <= set(first["changed"])
    assert first["url"] == f"http://testserver{version(patient['id'], first['version'])}"


async def test_each_change_is_a_version_newest_first_with_the_fields_it_changed(client):
    patient = await create_patient(client, ssn="123-45-6789")
    path = f"/api/patients/{patient['id']}/"
    await client.patch(path, json={"first_name": "Janet"})
    await client.patch(path, json={"first_name": "Janet", "address": "1 Elm St"})
    await client.post(f"{path}add_tag/", json={"tag": "anxiety"})
    await client.post(f"{path}update_wallet/", json={"amount": "5.00", "reason": "Deposit"})
    await client.patch(path, json={"ssn": "123-45-6789"})
    results = (await client.get(history(patient["id"]))).json()["results"]
    assert [(v["action"], v["changed"]) for v in results] == [
        ("updated", ["ssn"]),  # encrypted anew, so listed even when the value is the same
        ("updated", ["wallet_balance"]),
        ("updated", ["tags"]),
        ("updated", ["address"]),  # first_name was sent, but already "Janet"
        ("updated", ["first_name"]),
        ("created", results[-1]["changed"]),
    ]
    assert results[1]["reason"] == "Deposit"  # the wallet's reason is the change's
    assert [v["version"] for v in results] == sorted((v["version"] for v in results), reverse=True)


async def test_the_reason_comes_from_the_header_or_the_body_which_wins(client):
    patient = await create_patient(client)
    path = f"/api/patients/{patient['id']}/"
    await client.patch(path, json={"last_name": "A"}, headers={"X-Change-Reason": "Typo"})
    await client.patch(
        path, json={"last_name": "B", "reason": "Married"}, headers={"X-Change-Reason": "x"}
    )
    await client.post(f"{path}add_tag/", json={"tag": "t"}, headers={"X-Change-Reason": "Intake"})
    results = (await client.get(history(patient["id"]))).json()["results"]
    assert [v["reason"] for v in results[:3]] == ["Intake", "Married", "Typo"]
    assert (await client.get(path)).json()["last_name"] == "B"  # `reason` is no field


@pytest.mark.parametrize("where", ["header", "body"])
async def test_a_reason_over_500_characters_is_a_400_and_changes_nothing(client, where):
    patient = await create_patient(client)
    path = f"/api/patients/{patient['id']}/"
    if where == "header":
        response = await client.patch(
            path, json={"last_name": "X"}, headers={"X-Change-Reason": "r" * 501}
        )
    else:
        response = await client.patch(path, json={"last_name": "X", "reason": "r" * 501})
    assert response.status_code == 400
    assert (await client.get(path)).json()["last_name"] == patient["last_name"]
    assert (await client.get(history(patient["id"]))).json()["count"] == 1


ONE_LINE = "Line breaks, tabs and other control characters are not allowed"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([("X-Change-Reason", "Moved\thouse")], f"{ONE_LINE}: U+0009."),
        ([(b"X-Change-Reason", b"Moved\x01house")], f"{ONE_LINE}: U+0001."),
        (
            [(b"X-Change-Reason", b"Umzug \xc3\xbcber")],
            "The X-Change-Reason header must be ASCII; send the body's reason.",
        ),
    ],
)
async def test_a_reason_header_is_one_line_of_ascii_and_a_bad_one_changes_nothing(
    client, headers, message
):
    patient = await create_patient(client)
    path = f"/api/patients/{patient['id']}/"
    response = await client.patch(path, json={"last_name": "X"}, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"X-Change-Reason": [message]}
    assert (await client.get(path)).json()["last_name"] == patient["last_name"]
    assert (await client.get(history(patient["id"]))).json()["count"] == 1


async def test_a_reason_in_the_body_is_one_line(client):
    patient = await create_patient(client)
    path = f"/api/patients/{patient['id']}/"
    response = await client.patch(path, json={"last_name": "X", "reason": "Typo\r\nX-Evil: 1"})
    assert response.status_code == 400
    assert response.json() == {"reason": [f"{ONE_LINE}: U+000D."]}


async def test_a_version_shows_the_record_as_it_left_it_and_its_changes(client):
    patient = await create_patient(client, ssn="123-45-6789", address="4 Elm Rd")
    path = f"/api/patients/{patient['id']}/"
    changed = await client.patch(path, json={"address": "12 Main St", "ssn": "987-65-4321"})
    await client.patch(path, json={"address": "99 Later Ave"})
    one = await client.get(version(patient["id"], etag(changed)))
    assert one.status_code == 200
    body = one.json()
    assert body["record"]["address"] == "12 Main St"
    assert body["record"]["ssn"] == "987-65-4321"
    assert body["changes"] == {
        "address": {"before": "4 Elm Rd", "after": "12 Main St"},
        "ssn": {"before": "123-45-6789", "after": "987-65-4321"},
    }
    assert "password_hash" not in body["record"]
    assert "password" not in body["record"]


async def test_a_password_change_is_listed_but_never_shown(client):
    patient = await create_patient(client)
    changed = await client.patch(
        f"/api/patients/{patient['id']}/", json={"password": "another-horse-42"}
    )
    body = (await client.get(version(patient["id"], etag(changed)))).json()
    assert body["changed"] == ["password"]
    assert body["changes"] == {}


async def test_the_history_keeps_phi_encrypted(client, engine):
    patient = await create_patient(client, ssn="123-45-6789", allergies_and_medication="Lithium")
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT ssn, allergies_and_medication FROM patient_versions "
                    "WHERE patient_id = :p"
                ),
                {"p": patient["id"]},
            )
        ).one()
    assert row.ssn.startswith("v1:")
    assert "123-45-6789" not in row.ssn
    assert "Lithium" not in row.allergies_and_medication


@pytest.mark.parametrize("number", ["1", "999999999999", "0", "abc", "-1"])
async def test_an_unknown_version_is_a_404(client, number):
    patient = await create_patient(client)
    response = await client.get(version(patient["id"], number))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


async def test_another_patients_version_is_a_404(client):
    patient = await create_patient(client)
    other = await client.post("/api/patients/", json=_payload())
    response = await client.get(version(patient["id"], etag(other)))
    assert response.status_code == 404


async def test_an_unknown_patients_history_is_a_404(client):
    assert (await client.get(history("p_nobody"))).status_code == 404


async def test_restore_brings_a_version_back_as_a_new_version(client):
    patient = await create_patient(client, address="Old St", tags=["a"])
    path = f"/api/patients/{patient['id']}/"
    first = (await client.get(path)).headers["ETag"].strip('"')
    await client.patch(path, json={"address": "New St", "first_name": "Changed"})
    await client.post(f"{path}update_wallet/", json={"amount": "7.00"})
    restored = await client.post(
        f"{version(patient['id'], first)}restore/", json={"reason": "Wrong patient edited"}
    )
    assert restored.status_code == 200
    body = restored.json()
    assert body["address"] == "Old St"
    assert body["first_name"] == patient["first_name"]
    assert body["wallet_balance"] == "7.00"  # the wallet is its ledger's, never restored
    latest = (await client.get(history(patient["id"]))).json()["results"][0]
    assert latest["version"] == etag(restored)
    assert latest["action"] == "restored"
    assert latest["restored_from"] == int(first)
    assert latest["reason"] == "Wrong patient edited"
    assert sorted(latest["changed"]) == ["address", "first_name"]


async def test_restore_honours_if_match(client):
    patient = await create_patient(client)
    path = f"/api/patients/{patient['id']}/"
    first = (await client.get(path)).headers["ETag"]
    await client.patch(path, json={"first_name": "Changed"})
    stale = await client.post(
        f"{version(patient['id'], first.strip(chr(34)))}restore/", headers={"If-Match": first}
    )
    assert stale.status_code == 412
    assert (await client.get(path)).json()["first_name"] == "Changed"


async def test_restoring_a_phone_number_taken_since_is_a_400(client):
    patient = await create_patient(client)
    path = f"/api/patients/{patient['id']}/"
    first = (await client.get(path)).headers["ETag"].strip('"')
    await client.patch(path, json={"phone_no": unique_phone()})
    await create_patient(client, phone_no=patient["phone_no"])
    response = await client.post(f"{version(patient['id'], first)}restore/")
    assert response.status_code == 400
    assert list(response.json()) == ["phone_no"]


async def test_restoring_an_e_mail_address_taken_since_is_a_400(client):
    """The unique index refuses it (the restore writes in one statement): the message names
    nobody."""
    patient = await create_patient(client, email="kept@example.org")
    path = f"/api/patients/{patient['id']}/"
    first = (await client.get(path)).headers["ETag"].strip('"')
    await client.patch(path, json={"email": "moved@example.org"})
    other = await create_patient(client, email="KEPT@example.org")
    response = await client.post(f"{version(patient['id'], first)}restore/")
    assert response.json() == {"email": [EMAIL_NOT_USABLE]}
    assert other["id"] not in response.text


async def test_restoring_an_unknown_version_is_a_404(client):
    patient = await create_patient(client)
    response = await client.post(f"{version(patient['id'], 1)}restore/")
    assert response.status_code == 404


async def test_who_may_read_and_restore_history(client, staff_client, patient_client):
    patient = await create_patient(client)
    first = patient_version = (await client.get(history(patient["id"]))).json()["results"][0]
    therapist = await staff_client("therapist")
    own = await patient_client(patient["id"])
    assert (await therapist.get(history(patient["id"]))).status_code == 200
    assert (await therapist.get(first["url"])).status_code == 200
    assert (await therapist.post(f"{patient_version['url']}restore/")).status_code == 403
    assert (await own.get(history(patient["id"]))).status_code == 403
    assert (await own.get(first["url"])).status_code == 403
    assert (await own.post(f"{first['url']}restore/")).status_code == 403


async def test_a_patients_own_change_is_theirs_in_the_history(client, patient_client):
    patient = await create_patient(client)
    own = await patient_client(patient["id"])
    response = await own.patch(
        f"/api/patients/{patient['id']}/", json={"address": "2 Own St", "reason": "Moved"}
    )
    assert response.status_code == 200
    latest = (await client.get(history(patient["id"]))).json()["results"][0]
    assert (latest["actor"], latest["actor_kind"], latest["reason"]) == (
        patient["id"],
        "patient",
        "Moved",
    )


async def test_concurrent_changes_each_leave_their_own_version(client):
    patient = await create_patient(client)
    path = f"/api/patients/{patient['id']}/update_wallet/"
    responses = await asyncio.gather(
        *(client.post(path, json={"amount": "1.00"}) for _ in range(20))
    )
    assert all(response.status_code == 200 for response in responses)
    page = (await client.get(history(patient["id"]), params={"page_size": 100})).json()
    assert page["count"] == 21
    tags = {etag(response) for response in responses}
    assert tags <= {v["version"] for v in page["results"]}


async def test_history_reads_are_audited(client, engine):
    patient = await create_patient(client)
    first = (await client.get(history(patient["id"]))).json()["results"][0]
    await client.get(first["url"])
    async with engine.connect() as connection:
        actions = (
            await connection.scalars(
                text("SELECT action FROM audit_events WHERE patient_id = :p ORDER BY id"),
                {"p": patient["id"]},
            )
        ).all()
    assert actions[-2:] == ["list_patient_history", "get_patient_version"]


def _payload() -> dict[str, Any]:
    return patient_payload(ssn="123-45-6789")


def test_a_version_keeps_every_field_of_the_record_but_the_password():
    from app.models.patient import Patient
    from app.patients.versions import RECORD

    bookkeeping = {"id", "password_hash", "version", "created_at", "updated_at", "deleted_at"}
    fields = {column.key for column in Patient.__table__.c} - bookkeeping
    assert set(RECORD) == fields

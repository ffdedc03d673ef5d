"""Deleting a patient hides them and their record everywhere, keeps them for the retention
period (an admin may restore them), and `purge` then removes them for good."""

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image
from sqlalchemy import text

from app.patients.commands import purge
from tests.appointments.conftest import (  # noqa: F401 - fixtures, used by name
    book,
    make_therapist,
)
from tests.commands import run_cli
from tests.factories import create_patient, patient_payload


def path(patient_id: str) -> str:
    return f"/api/patients/{patient_id}/"


def restore(patient_id: str) -> str:
    return f"/api/deleted-patients/{patient_id}/restore/"


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    return buffer.getvalue()


async def test_a_deleted_patient_is_gone_from_the_api(client, patient_client, anonymous):
    patient = await create_patient(client, first_name="Hiddenname")
    own = await patient_client(patient["id"])
    pid = patient["id"]
    await client.post(f"{path(pid)}update_wallet/", json={"amount": "1.00"})
    await client.put(f"{path(pid)}profile_picture/", files={"file": ("p.png", png(), "image/png")})
    urls = [
        path(pid),
        f"{path(pid)}history/",
        f"{path(pid)}documents/",
        f"{path(pid)}wallet_transactions/",
        f"{path(pid)}profile_picture/",
    ]
    assert [(await client.get(url)).status_code for url in urls] == [200] * len(urls)
    assert (await client.delete(path(pid), headers={"X-Change-Reason": "Asked"})).status_code == 204

    for url in urls:
        response = await client.get(url)
        assert response.status_code == 404, url
        assert response.json() == {"detail": "Not found."}
    assert (await client.patch(path(pid), json={"first_name": "X"})).status_code == 404
    assert (await client.post(f"{path(pid)}add_tag/", json={"tag": "t"})).status_code == 404
    assert (await client.delete(path(pid))).status_code == 404
    listed = (await client.get("/api/patients/", params={"name": "Hiddenname"})).json()
    assert listed["count"] == 0
    # Their token and their password stop working.
    assert (await own.get(path(pid))).status_code == 401
    login = await anonymous.post(
        "/api/auth/token/", data={"username": pid, "password": "correct-horse"}
    )
    assert login.status_code == 401


async def test_a_deleted_patients_id_and_phone_stay_taken_until_purged(client):
    patient = await create_patient(client)
    await client.delete(path(patient["id"]))
    same_phone = await client.post(
        "/api/patients/", json=patient_payload(phone_no=patient["phone_no"])
    )
    assert same_phone.status_code == 400
    assert list(same_phone.json()) == ["phone_no"]
    same_id = await client.post("/api/patients/", json=patient_payload(id=patient["id"]))
    assert same_id.status_code == 400
    assert list(same_id.json()) == ["id"]


async def test_deleting_cancels_future_appointments_and_hides_the_past(client, make_therapist):  # noqa: F811
    therapist = await make_therapist()
    patient = await create_patient(client)
    future = await book(client, patient["id"], therapist.id)
    await client.delete(path(patient["id"]))
    assert (await client.get(f"/api/appointments/{future['id']}/")).status_code == 404
    listed = (await client.get("/api/appointments/", params={"therapist": therapist.id})).json()
    assert listed["count"] == 0
    # The time is free again: another patient may book it.
    other = await create_patient(client)
    await book(client, other["id"], therapist.id)
    assert (await client.post(restore(patient["id"]))).status_code == 200
    back = await client.get(f"/api/appointments/{future['id']}/")
    assert back.json()["status"] == "cancelled"
    assert back.json()["cancellation_reason"] == "The patient's record was deleted."


async def test_the_deletion_is_a_version_with_its_reason(client):
    patient = await create_patient(client)
    await client.delete(path(patient["id"]), headers={"X-Change-Reason": "Duplicate record"})
    await client.post(restore(patient["id"]), json={"reason": "Not a duplicate"})
    results = (await client.get(f"{path(patient['id'])}history/")).json()["results"]
    assert [(v["action"], v["reason"]) for v in results[:2]] == [
        ("undeleted", "Not a duplicate"),
        ("deleted", "Duplicate record"),
    ]


async def test_a_reason_header_over_500_characters_is_a_documented_400(client, app):
    patient = await create_patient(client)
    response = await client.delete(path(patient["id"]), headers={"X-Change-Reason": "r" * 501})
    assert response.status_code == 400
    assert response.json() == {
        "X-Change-Reason": ["Ensure this field has no more than 500 characters."]
    }
    assert (await client.get(path(patient["id"]))).status_code == 200
    documented = app.openapi()["paths"]["/api/patients/{patient_id}/"]["delete"]["responses"]
    assert "400" in documented


async def test_admins_list_deleted_patients_with_when_they_are_purged(client, settings):
    patient = await create_patient(client)
    await client.delete(path(patient["id"]))
    page = (await client.get("/api/deleted-patients/", params={"page_size": 100})).json()
    [listed] = [row for row in page["results"] if row["id"] == patient["id"]]
    deleted_at = datetime.fromisoformat(listed["deleted_at"])
    purge_after = datetime.fromisoformat(listed["purge_after"])
    assert purge_after - deleted_at == timedelta(days=settings.patient_retention_days)
    assert set(listed) == {"id", "first_name", "last_name", "deleted_at", "purge_after"}


async def test_only_admins_see_and_restore_deleted_patients(client, staff_client):
    patient = await create_patient(client)
    await client.delete(path(patient["id"]))
    therapist = await staff_client("therapist")
    assert (await therapist.get("/api/deleted-patients/")).status_code == 403
    assert (await therapist.post(restore(patient["id"]))).status_code == 403


async def test_restore_brings_the_patient_back_with_their_record(client, patient_client, anonymous):
    patient = await create_patient(client)
    own = await patient_client(patient["id"])
    upload = await client.post(
        f"{path(patient['id'])}documents/",
        data={"title": "Consent", "category": "consent"},
        files={"file": ("c.png", png(), "image/png")},
    )
    assert upload.status_code == 201, upload.text
    await client.delete(path(patient["id"]))
    restored = await client.post(restore(patient["id"]))
    assert restored.status_code == 200
    assert restored.json()["id"] == patient["id"]
    assert restored.headers["ETag"]
    assert (await client.get(path(patient["id"]))).status_code == 200
    documents = (await client.get(f"{path(patient['id'])}documents/")).json()
    assert documents["count"] == 1
    # Their old sessions ended; they log in again.
    assert (await own.get(path(patient["id"]))).status_code == 401
    login = await anonymous.post(
        "/api/auth/token/", data={"username": patient["id"], "password": "correct-horse"}
    )
    assert login.status_code == 200


async def test_restoring_a_patient_not_deleted_or_unknown(client):
    patient = await create_patient(client)
    not_deleted = await client.post(restore(patient["id"]))
    assert not_deleted.status_code == 400
    assert not_deleted.json() == {"non_field_errors": ["This patient is not deleted."]}
    assert (await client.post(restore("p_nobody"))).status_code == 404


async def test_past_the_retention_a_patient_cannot_be_restored(client, engine):
    patient = await create_patient(client)
    await client.delete(path(patient["id"]))
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE patients SET deleted_at = now() - interval '400 days' WHERE id = :p"),
            {"p": patient["id"]},
        )
    response = await client.post(restore(patient["id"]))
    assert response.status_code == 400
    assert "retention period" in response.json()["non_field_errors"][0]


async def test_purge_removes_expired_patients_and_their_files_for_good(client, settings, engine):
    kept = await create_patient(client)
    expired = await create_patient(client)
    before = _stored_files(settings)
    picture = await client.put(
        f"{path(expired['id'])}profile_picture/", files={"file": ("p.png", png(), "image/png")}
    )
    assert picture.status_code == 200
    document = await client.post(
        f"{path(expired['id'])}documents/",
        data={"title": "Referral", "category": "referral"},
        files={"file": ("r.png", png(), "image/png")},
    )
    assert document.status_code == 201
    stored = _stored_files(settings) - before
    assert len(stored) == 2
    await client.delete(path(kept["id"]))
    await client.delete(path(expired["id"]))

    assert await purge(settings) == []  # within the retention: nothing
    later = datetime.now(UTC) + timedelta(days=settings.patient_retention_days, hours=1)
    purged = await purge(settings, now=later)
    assert sorted(purged) == sorted([kept["id"], expired["id"]])
    async with engine.connect() as connection:
        left = await connection.scalar(
            text(
                "SELECT count(*) FROM patient_versions WHERE patient_id = :p "
                "UNION ALL SELECT count(*) FROM patients WHERE id = :p"
            ),
            {"p": expired["id"]},
        )
        events = (
            await connection.scalars(
                text("SELECT actor_kind FROM audit_events WHERE patient_id = :p AND action = :a"),
                {"p": expired["id"], "a": "cli_purge_patient"},
            )
        ).all()
    assert left == 0
    assert events == ["cli"]
    assert not any(file.exists() for file in stored)
    assert (await client.post(restore(expired["id"]))).status_code == 404
    # Purged, their phone number is free again.
    again = await client.post("/api/patients/", json=patient_payload(phone_no=expired["phone_no"]))
    assert again.status_code == 201


def test_the_purge_command_lists_what_it_would_remove(cli_env):
    result = run_cli(cli_env, "purge", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Would purge ")


def _stored_files(settings) -> set[Path]:
    return {
        file
        for folder in (settings.pictures_dir, settings.documents_dir)
        for file in folder.rglob("*")
        if file.is_file()
    }

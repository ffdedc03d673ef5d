"""A patient's history in the admin (field-level changes, restoring a version) and the deleted
patients page, through PatientService: the API's rules and audit events."""

import re

import pytest

from tests.admin.conftest import audit_rows
from tests.factories import create_patient

pytestmark = pytest.mark.usefixtures("anonymous")


async def test_the_history_shows_each_change_field_by_field(admin_login, client):
    patient = await create_patient(client, address="4 Elm Rd")
    await client.patch(
        f"/api/patients/{patient['id']}/",
        json={"address": "12 Main St"},
        headers={"X-Change-Reason": "Moved house"},
    )
    admin = await admin_login("admin")
    details = await admin.get(f"/admin/patient/details/{patient['id']}")
    assert f"/admin/patients/{patient['id']}/history" in details.text
    page = await admin.get(f"/admin/patients/{patient['id']}/history")
    assert page.status_code == 200
    row = re.search(r'<tr data-field="address">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert "4 Elm Rd" in row.group(1)
    assert "12 Main St" in row.group(1)
    assert "Moved house" in page.text
    assert "Restore" in page.text


async def test_an_admin_restores_a_version_and_it_is_audited(admin_login, client, engine):
    patient = await create_patient(client, first_name="Original")
    path = f"/api/patients/{patient['id']}/"
    first = (await client.get(path)).headers["ETag"].strip('"')
    await client.patch(path, json={"first_name": "Mistake"})
    admin = await admin_login("admin")
    done = await admin.post(
        f"/admin/patients/{patient['id']}/history/{first}/restore", data={"reason": "Undo"}
    )
    assert done.status_code == 302
    assert (await client.get(path)).json()["first_name"] == "Original"
    latest = (await client.get(f"{path}history/")).json()["results"][0]
    assert (latest["action"], latest["reason"], latest["restored_from"]) == (
        "restored",
        "Undo",
        int(first),
    )
    events = await audit_rows(engine, "admin_restore_patient_version")
    assert patient["id"] in [event["patient_id"] for event in events]


async def test_a_therapist_reads_the_history_but_restores_nothing(admin_login, client):
    patient = await create_patient(client)
    first = (await client.get(f"/api/patients/{patient['id']}/")).headers["ETag"].strip('"')
    therapist = await admin_login("therapist")
    page = await therapist.get(f"/admin/patients/{patient['id']}/history")
    assert page.status_code == 200
    assert "Restore" not in page.text
    refused = await therapist.post(f"/admin/patients/{patient['id']}/history/{first}/restore")
    assert refused.status_code == 403
    assert (await therapist.get("/admin/deleted-patients")).status_code == 403


@pytest.mark.parametrize("pk", ["p_nobody", "nonsense"])
async def test_an_unknown_patients_history_is_a_404(admin_login, pk):
    admin = await admin_login("admin")
    assert (await admin.get(f"/admin/patients/{pk}/history")).status_code == 404


async def test_a_deleted_patient_is_only_on_the_deleted_page_until_restored(admin_login, client):
    patient = await create_patient(client, first_name="Gonepatient")
    admin = await admin_login("admin")
    await client.delete(f"/api/patients/{patient['id']}/")
    listed = await admin.get("/admin/patient/list", params={"search": "Gonepatient"})
    assert patient["id"] not in listed.text
    assert (await admin.get(f"/admin/patient/details/{patient['id']}")).status_code == 404
    assert (await admin.get(f"/admin/patients/{patient['id']}/history")).status_code == 404
    deleted = await admin.get("/admin/deleted-patients")
    assert deleted.status_code == 200
    assert f'data-patient="{patient["id"]}"' in deleted.text
    restored = await admin.post(
        f"/admin/deleted-patients/{patient['id']}/restore", data={"reason": "By mistake"}
    )
    assert restored.status_code == 302
    assert (await client.get(f"/api/patients/{patient['id']}/")).status_code == 200
    again = await admin.post(f"/admin/deleted-patients/{patient['id']}/restore")
    assert again.status_code == 302  # not deleted: shown as an error message
    assert (await admin.post("/admin/deleted-patients/p_nobody/restore")).status_code == 404


async def test_a_patient_with_encrypted_session_notes_shows_in_the_admin(admin_login, client):
    patient = await create_patient(client)
    added = await client.post(
        f"/api/patients/{patient['id']}/add_session/",
        json={"date": "2024-05-01T14:30:00Z", "notes": "Talked about the panic attacks"},
    )
    assert added.status_code == 200
    admin = await admin_login("admin")
    details = await admin.get(f"/admin/patient/details/{patient['id']}")
    assert details.status_code == 200
    assert re.search(r"Sessions</[^>]+>\s*<[^>]+>\s*1\b", details.text), details.text
    history = await admin.get(f"/admin/patients/{patient['id']}/history")
    assert history.status_code == 200
    assert "v1:" not in history.text

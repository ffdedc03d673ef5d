"""The audit trail in the admin: readable by staff, never changed."""

import re

import pytest

from tests.admin.conftest import audit_rows
from tests.factories import create_patient

pytestmark = pytest.mark.usefixtures("anonymous")


async def test_the_audit_trail_is_listed(admin_login, client, engine):
    patient = await create_patient(client)
    staff = await admin_login("admin", "rivera")
    await staff.get(f"/admin/patient/details/{patient['id']}")
    assert 'href="http://testserver/admin/audit-event/list"' in (await staff.get("/admin/")).text
    response = await staff.get("/admin/audit-event/list")
    assert response.status_code == 200
    assert "admin_get_patient" in response.text
    assert "admin_login" in response.text
    assert patient["id"] in response.text
    filtered = await staff.get("/admin/audit-event/list?outcome=success&search=admin_get")
    ids = re.findall(r'<input type="hidden" value="(\d+)">', filtered.text)
    assert len(ids) == 2  # the patient's page: admin_get_patient and admin_get_patient_measures
    details = await staff.get(f"/admin/audit-event/details/{ids[0]}")
    assert details.status_code == 200
    assert "admin_get_patient" in details.text
    actions = {r["action"] for r in await audit_rows(engine, "admin_list_audit_events")}
    assert actions == {"admin_list_audit_events"}
    assert len(await audit_rows(engine, "admin_get_audit_event")) == 1


async def test_therapists_cannot_read_the_audit_trail(admin_login, engine):
    """GET /api/audit/ is admins only; so is the admin's audit view (issue 13)."""
    therapist = await admin_login("therapist", "rivera")
    event_id = (await audit_rows(engine, "admin_login"))[0]["id"]
    home = (await therapist.get("/admin/")).text
    assert "audit-event" not in home
    assert "Audit trail" not in home
    assert "audit-event" not in (await therapist.get("/admin/patient/list")).text
    for path in (
        "/admin/audit-event/list",
        "/admin/audit-event/list?search=admin_login",
        f"/admin/audit-event/details/{event_id}",
        "/admin/audit-event/export/csv",
        "/admin/audit-event/export/json",
    ):
        response = await therapist.get(path)
        assert response.status_code == 403, path
        assert "admin_login" not in response.text
    rows = await audit_rows(engine, "admin_list_audit_events")
    assert [(r["actor"], r["outcome"], r["status_code"]) for r in rows] == [
        ("rivera", "denied", 403),
        ("rivera", "denied", 403),
    ]


async def test_the_audit_trail_is_read_only(admin_login, engine):
    staff = await admin_login("admin")
    event_id = (await audit_rows(engine, "admin_login"))[0]["id"]
    html = (await staff.get("/admin/audit-event/list")).text
    assert "/admin/audit-event/create" not in html
    assert "/admin/audit-event/edit/" not in html
    assert 'id="action-delete"' not in html
    assert (await staff.get("/admin/audit-event/create")).status_code == 403
    assert (await staff.post("/admin/audit-event/create", data={"actor": "x"})).status_code == 403
    assert (await staff.get(f"/admin/audit-event/edit/{event_id}")).status_code == 403
    assert (
        await staff.post(f"/admin/audit-event/edit/{event_id}", data={"actor": "x"})
    ).status_code == 403
    deleted = await staff.request("DELETE", "/admin/audit-event/delete", params={"pks": event_id})
    assert deleted.status_code == 403
    rows = await audit_rows(engine, "admin_login")
    assert rows[0]["id"] == event_id
    assert rows[0]["actor"] != "x"

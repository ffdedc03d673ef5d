"""One "not deleted" (app.models.patient.KEPT): a deleted patient is in none of the admin's
patient views, as in none of the API's."""

import httpx
import pytest

from tests.admin.conftest import AdminLogin
from tests.factories import create_patient

pytestmark = pytest.mark.usefixtures("anonymous")


async def test_a_deleted_patient_is_in_no_view_of_either_ui(
    admin_login: AdminLogin, client: httpx.AsyncClient
) -> None:
    kept = await create_patient(client, first_name="Keptone")
    gone = await create_patient(client, first_name="Keptone")
    assert (await client.delete(f"/api/patients/{gone['id']}/")).status_code == 204
    listed = (await client.get("/api/patients/", params={"name": "Keptone"})).json()
    assert [patient["id"] for patient in listed["results"]] == [kept["id"]]

    admin = await admin_login("admin")
    for params in ({}, {"search": "Keptone"}):
        page = (await admin.get("/admin/patient/list", params=params)).text
        assert kept["id"] in page
        assert gone["id"] not in page
    for view in ("details", "edit"):
        assert (await admin.get(f"/admin/patient/{view}/{kept['id']}")).status_code == 200
        assert (await admin.get(f"/admin/patient/{view}/{gone['id']}")).status_code == 404
    deleting = await admin.request("DELETE", "/admin/patient/delete", params={"pks": gone["id"]})
    assert "error=" in deleting.text  # not found: it is deleted already
    restorable = (await admin.get("/admin/deleted-patients")).text
    assert f'data-patient="{gone["id"]}"' in restorable

"""The admin's ids, parsed by app.core.ids within their columns' ranges: an id no row can have is
a 404 (or an ignored filter), never a 500."""

import pytest

from tests.admin.conftest import AdminLogin

pytestmark = pytest.mark.usefixtures("anonymous")


@pytest.mark.parametrize(
    "pk",
    ["0", "abc", "9223372036854775807", "9223372036854775808", "1" * 40, "%EF%BC%91"],
)
async def test_an_audit_event_no_row_can_have_is_a_404(admin_login: AdminLogin, pk: str) -> None:
    admin = await admin_login("admin")
    assert (await admin.get(f"/admin/audit-event/details/{pk}")).status_code == 404


@pytest.mark.parametrize("pk", ["0", "2147483648", "9223372036854775808"])
async def test_a_staff_id_past_its_column_is_a_404(admin_login: AdminLogin, pk: str) -> None:
    admin = await admin_login("admin")
    assert (await admin.get(f"/admin/staff/{pk}/password")).status_code == 404


@pytest.mark.parametrize("therapist", ["2147483648", "0", "x"])
async def test_a_therapist_filter_past_its_column_is_ignored(
    admin_login: AdminLogin, therapist: str
) -> None:
    admin = await admin_login("admin")
    page = await admin.get("/admin/appointments", params={"therapist": therapist})
    assert page.status_code == 200


@pytest.mark.parametrize("pk", ["9223372036854775808", "0"])
async def test_an_appointment_id_past_its_column_is_a_404(admin_login: AdminLogin, pk: str) -> None:
    admin = await admin_login("admin")
    assert (await admin.post(f"/admin/appointments/{pk}/cancel", data={})).status_code == 404

"""Issue 13: the admin's logout is a POST that ends the server-side session; every unsafe request
needs a CSRF token and this site's Origin; every page has a strict Content-Security-Policy."""

import re

import pytest

from app.auth.commands import create_staff
from app.core.headers import CONTENT_SECURITY_POLICY
from tests.admin.conftest import audit_rows, browser, csrf_token, log_in
from tests.conftest import STAFF_PASSWORD
from tests.factories import create_patient

pytestmark = pytest.mark.usefixtures("anonymous")


def patient_form(**values: str) -> dict[str, str]:
    return {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "date_of_birth": "1990-12-10",
        "sex": "F",
        "phone_no": "+15551234567",
        "allergies_and_medication": "",
        "password": "ada-password",
        "save": "Save",
        **values,
    }


async def patients_named(client, name: str) -> int:
    count: int = (await client.get("/api/patients/", params={"name": name})).json()["count"]
    return count


async def test_a_get_does_not_log_out(admin_login):
    staff = await admin_login()
    page = await staff.get("/admin/logout")
    assert page.status_code == 200
    assert re.search(r'<form id="logout-form" method="POST"', page.text)
    assert 'name="csrf_token"' in page.text
    assert (await staff.get("/admin/patient/list")).status_code == 200


async def test_the_cookie_is_worthless_after_logout(app, admin_login):
    staff = await admin_login()
    stolen = staff.cookies["therapy_admin"]
    refused = await staff.post("/admin/logout", headers={"X-CSRFToken": "nope"})
    assert refused.status_code == 403  # no valid token: still logged in
    assert (await staff.get("/admin/patient/list")).status_code == 200
    token = await csrf_token(staff, "/admin/logout")
    del staff.headers["X-CSRFToken"]
    response = await staff.post("/admin/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["location"].endswith("/admin/login")
    assert (await staff.get("/admin/patient/list")).status_code == 302
    async with browser(app) as thief:
        thief.cookies.set("therapy_admin", stolen, path="/admin")
        assert (await thief.get("/admin/patient/list")).status_code == 302


async def test_a_post_without_a_valid_token_is_refused_and_writes_nothing(
    admin_login, client, engine
):
    staff = await admin_login()
    patient = await create_patient(client, last_name="Kept")
    token = staff.headers.pop("X-CSRFToken")
    for headers, data in (
        ({}, patient_form()),
        ({}, patient_form(csrf_token="")),
        ({}, patient_form(csrf_token="20990101000000##" + "0" * 64)),
        ({"X-CSRFToken": token + "x"}, patient_form()),
    ):
        response = await staff.post("/admin/patient/create", data=data, headers=headers)
        assert response.status_code == 403
        assert "CSRF" in response.text
    edited = await staff.post(
        f"/admin/patient/edit/{patient['id']}", data=patient_form(last_name="Changed")
    )
    assert edited.status_code == 403
    wallet = await staff.post(f"/admin/patient/wallet/{patient['id']}", data={"amount": "5"})
    assert wallet.status_code == 403
    deleted = await staff.request("DELETE", "/admin/patient/delete", params={"pks": patient["id"]})
    assert deleted.status_code == 403
    assert await patients_named(client, "lovelace") == 0
    assert (await client.get(f"/api/patients/{patient['id']}/")).json() == patient
    for action in ("admin_create_patient", "admin_update_patient", "admin_delete_patient"):
        assert await audit_rows(engine, action) == []
    # The form's own token, or the script's header, is accepted.
    form_token = await csrf_token(staff, "/admin/patient/create")
    created = await staff.post("/admin/patient/create", data=patient_form(csrf_token=form_token))
    assert created.status_code == 302, created.text
    assert await patients_named(client, "lovelace") == 1


async def test_a_token_made_before_the_login_is_no_good_after_it(app, settings, client):
    await create_staff(settings, username="rivera", password=STAFF_PASSWORD, role="admin")
    async with browser(app) as staff, browser(app) as other:
        before = await csrf_token(staff)  # the login page's, before the session
        foreign = await csrf_token(other)  # another browser's
        assert (await log_in(staff, "rivera", STAFF_PASSWORD)).status_code == 302
        del staff.headers["X-CSRFToken"]
        for token in (before, foreign):
            response = await staff.post(
                "/admin/patient/create", data=patient_form(csrf_token=token)
            )
            assert response.status_code == 403
    assert await patients_named(client, "lovelace") == 0


async def test_login_needs_the_login_pages_token(app, settings):
    await create_staff(settings, username="rivera", password=STAFF_PASSWORD, role="admin")
    async with browser(app) as client:
        response = await client.post(
            "/admin/login", data={"username": "rivera", "password": STAFF_PASSWORD}
        )
        assert response.status_code == 403
        assert (await client.get("/admin/patient/list")).status_code == 302
        assert (await log_in(client, "rivera", STAFF_PASSWORD)).status_code == 302


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "http://testserver.evil.example"}, 403),
        ({"Referer": "https://evil.example/admin/patient/create"}, 403),
        ({"Origin": "http://testserver"}, 302),
        ({"Referer": "http://testserver/admin/patient/create"}, 302),
        ({"Origin": "https://admin.example.org"}, 302),  # PUBLIC_BASE_URL, behind a proxy
    ],
)
async def test_a_cross_origin_post_is_refused(
    admin_login, client, settings, monkeypatch, headers, status
):
    monkeypatch.setattr(settings, "public_base_url", "https://admin.example.org")
    staff = await admin_login()
    response = await staff.post("/admin/patient/create", data=patient_form(), headers=headers)
    assert response.status_code == status, response.text
    assert await patients_named(client, "lovelace") == (1 if status == 302 else 0)


async def test_pages_have_a_strict_content_security_policy(admin_login, client):
    patient = await create_patient(client)
    staff = await admin_login()
    for path, status in (
        ("/admin/login", 200),
        ("/admin/", 200),
        ("/admin/logout", 200),
        ("/admin/patient/list", 200),
        (f"/admin/patient/details/{patient['id']}", 200),
        (f"/admin/patient/edit/{patient['id']}", 200),
        ("/admin/patient/create", 200),
        (f"/admin/patient/action/update-wallet?pks={patient['id']}", 200),
        ("/admin/audit-event/list", 200),
        ("/admin/patient/details/p_zzzzzz", 404),  # an error page
    ):
        response = await staff.get(path)
        assert response.status_code == status, path
        policy = response.headers["content-security-policy"]
        assert policy == CONTENT_SECURITY_POLICY
        for directive in (
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ):
            assert directive in policy.split("; ")
        assert "unsafe-inline" not in policy
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        html = response.text
        # Nothing the policy would block: no inline script, handler or style attribute.
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], path
        assert re.findall(r"\son[a-z]+=", html) == [], path
        assert " style=" not in html, path
        for form in re.findall(r"<form\b[^>]*>", html):
            if 'method="POST"' in form:
                assert 'name="csrf_token"' in html, path

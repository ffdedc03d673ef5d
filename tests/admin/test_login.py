"""Logging in to /admin/ with the API's staff accounts; never as a patient; throttled."""

import time

from fastapi import FastAPI
from sqlalchemy import text

from app.admin.auth import StaffLogin
from app.admin.services import AdminServices
from app.auth.commands import create_staff
from tests.admin.conftest import audit_rows, browser, log_in
from tests.clock import within_one_rate_window
from tests.conftest import STAFF_PASSWORD
from tests.factories import create_patient


async def _login(client, username: str, password: str):
    return await log_in(client, username, password)


async def test_pages_need_a_login(app, anonymous):
    for path in ("/admin/", "/admin/patient/list", "/admin/audit-event/list"):
        response = await anonymous.get(path)
        assert response.status_code == 302
        assert response.headers["location"].endswith("/admin/login")
    page = await anonymous.get("/admin/login")
    assert page.status_code == 200
    assert 'name="username"' in page.text
    assert 'name="password"' in page.text


async def test_staff_log_in_with_an_httponly_samesite_cookie(app, settings, anonymous, engine):
    await create_staff(settings, username="rivera", password=STAFF_PASSWORD, role="therapist")
    async with browser(app) as client:
        response = await _login(client, "rivera", STAFF_PASSWORD)
        assert response.status_code == 302
        assert response.headers["location"].endswith("/admin/")
        cookies = response.headers.get_list("set-cookie")
        [cookie] = [c for c in cookies if c.startswith("therapy_admin=")]
        flags = [part.strip().lower() for part in cookie.split(";")]
        assert "httponly" in flags
        assert "samesite=lax" in flags
        assert "path=/admin" in flags
        assert "secure" not in flags  # https_only is for production
        page = await client.get("/admin/patient/list")
        assert page.status_code == 200
        assert "Patients" in page.text
        assert page.headers["cache-control"] == "no-store"
        logged_out = await client.post("/admin/logout")
        assert logged_out.status_code == 302
        assert logged_out.headers["location"].endswith("/admin/login")
        assert (await client.get("/admin/patient/list")).status_code == 302
    rows = await audit_rows(engine, "admin_login")
    assert [(r["actor"], r["actor_kind"], r["outcome"]) for r in rows] == [
        ("rivera", "staff", "success")
    ]
    assert rows[0]["client_address"] == "127.0.0.1"


async def test_wrong_password_and_unknown_user_are_refused(app, settings, anonymous, engine):
    await create_staff(settings, username="rivera", password=STAFF_PASSWORD, role="admin")
    async with browser(app) as client:
        for username, password in (("rivera", "wrong-password"), ("nobody", STAFF_PASSWORD)):
            response = await _login(client, username, password)
            assert response.status_code == 400
            assert "Invalid credentials." in response.text
        assert (await client.get("/admin/patient/list")).status_code == 302
    rows = await audit_rows(engine, "admin_login")
    assert [(r["actor"], r["outcome"], r["status_code"]) for r in rows] == [
        ("rivera", "denied", 401),
        ("unknown", "denied", 401),
    ]


async def test_inactive_staff_are_refused(app, settings, anonymous, engine):
    await create_staff(settings, username="gone", password=STAFF_PASSWORD, role="admin")
    async with browser(app) as client:
        assert (await _login(client, "gone", STAFF_PASSWORD)).status_code == 302
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE staff SET is_active = false"))
        # A session opened before the deactivation stops working too.
        assert (await client.get("/admin/patient/list")).status_code == 302
        response = await _login(client, "gone", STAFF_PASSWORD)
        assert response.status_code == 400
        assert "Invalid credentials." in response.text


async def test_patients_cannot_log_in(app, client, engine):
    patient = await create_patient(client, password="patient-password")
    async with browser(app) as browser_client:
        for name in (patient["id"], patient["phone_no"]):
            response = await _login(browser_client, name, "patient-password")
            assert response.status_code == 400
            assert "Invalid credentials." in response.text
            assert (await browser_client.get("/admin/")).status_code == 302
    rows = await audit_rows(engine, "admin_login")
    assert {(r["actor"], r["actor_kind"], r["outcome"]) for r in rows} == {
        (patient["id"], "patient", "denied")
    }
    # The same credentials are good at the API: only the admin refuses them.
    token = await client.post(
        "/api/auth/token/", data={"username": patient["id"], "password": "patient-password"}
    )
    assert token.status_code == 200


async def test_login_is_throttled_after_ten_failures(app, settings, anonymous, engine):
    await within_one_rate_window()
    await create_staff(settings, username="rivera", password=STAFF_PASSWORD, role="admin")
    async with browser(app) as client:
        for _ in range(10):
            assert (await _login(client, "rivera", "wrong-password")).status_code == 400
        response = await _login(client, "rivera", STAFF_PASSWORD)
        assert response.status_code == 429
        wait = int(response.headers["retry-after"])
        assert 1 <= wait <= 60  # LOGIN_RATE_LIMIT: 10/minute
        assert (
            "Too many failed login attempts. "
            f"Request was throttled. Expected available in {wait} seconds."
        ) in response.text
        assert (await client.get("/admin/patient/list")).status_code == 302
    throttled = [r for r in await audit_rows(engine, "admin_login") if r["status_code"] == 429]
    assert len(throttled) == 1
    assert throttled[0]["outcome"] == "denied"


async def test_a_browser_that_logged_in_before_is_not_held_back_by_strangers(
    app, settings, anonymous
):
    """Issue 22: its device cookie (app.auth.devices), from its last login: strangers' failures
    at the same address, or from anywhere, neither refuse nor slow it."""
    await create_staff(settings, username="rivera", password=STAFF_PASSWORD, role="admin")
    async with browser(app) as rivera, browser(app) as stranger:
        first = await _login(rivera, "rivera", STAFF_PASSWORD)
        assert first.status_code == 302
        [device] = [
            c for c in first.headers.get_list("set-cookie") if c.startswith("device_token=")
        ]
        flags = {part.strip().lower() for part in device.split(";")[1:]}
        assert {"httponly", "secure", "samesite=strict", "path=/admin/login"} <= flags
        token = device.split(";")[0].removeprefix("device_token=")
        await rivera.post("/admin/logout")
        # Past the pair's limit (API.md: 10 failures a minute per account and address).
        await within_one_rate_window()
        codes = [
            (await _login(stranger, "rivera", "wrong-password")).status_code for _ in range(12)
        ]
        assert codes == [400] * 10 + [429] * 2
        assert (await _login(stranger, "rivera", STAFF_PASSWORD)).status_code == 429
        # The cookie is Secure: a browser sends it over HTTPS; the test client over HTTP is told.
        rivera.cookies.set("device_token", token, path="/admin/login")
        started = time.monotonic()
        again = await _login(rivera, "rivera", STAFF_PASSWORD)
        assert again.status_code == 302, again.text
        assert time.monotonic() - started < 0.5
        assert (await rivera.get("/admin/patient/list")).status_code == 200


async def test_a_forged_cookie_is_ignored(app, settings, anonymous):
    await create_staff(settings, username="rivera", password=STAFF_PASSWORD, role="admin")
    async with browser(app) as client:
        client.cookies.set("therapy_admin", "eyJzdGFmZl9pZCI6IDF9.forged.sig", path="/admin")
        assert (await client.get("/admin/patient/list")).status_code == 302


def test_the_cookie_is_secure_in_production(settings):
    production = settings.model_copy(update={"environment": "production"})
    backend = StaffLogin(AdminServices(FastAPI(), production))
    options = backend.middlewares[0].kwargs
    assert options["https_only"] is True
    assert options["same_site"] == "lax"
    assert options["session_cookie"] == "therapy_admin"
    assert settings.secret_key is not None
    assert options["secret_key"] != settings.secret_key.get_secret_value()

"""Issue 13: staff change their own password; admins create, deactivate, reactivate staff and
reset their passwords; every change audited; a therapist sees none of the admin-only pages."""

import re

import pytest
from sqlalchemy import text

from app.auth.commands import create_staff
from app.auth.dependencies import TOKEN_REFUSED
from tests.admin.conftest import audit_rows, browser, csrf_token, field_errors, log_in
from tests.conftest import STAFF_PASSWORD
from tests.mail.smtp import reset_token

pytestmark = pytest.mark.usefixtures("anonymous")

NEW_PASSWORD = "quiet-harbour-lamp"


async def staff_row(engine, username: str) -> dict[str, object] | None:
    async with engine.connect() as connection:
        result = await connection.execute(
            text("SELECT id, username, email, role, is_active FROM staff WHERE username = :u"),
            {"u": username},
        )
        row = result.first()
        return None if row is None else dict(row._mapping)


async def staff_id(engine, username: str) -> int:
    row = await staff_row(engine, username)
    assert row is not None
    value = row["id"]
    assert isinstance(value, int)
    return value


async def api_token(anonymous, username: str, password: str) -> str:
    response = await anonymous.post(
        "/api/auth/token/", data={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def api_works(anonymous, token: str) -> bool:
    """Whether the token is taken: a 200, or else the contract's 401 for a refused token."""
    response = await anonymous.get("/api/patients/", headers={"Authorization": f"Bearer {token}"})
    if response.status_code == 200:
        return True
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": TOKEN_REFUSED}
    assert response.headers["WWW-Authenticate"] == "Bearer"
    return False


def change(current: str, new: str) -> dict[str, str]:
    return {"current_password": current, "new_password": new}


async def test_staff_change_their_own_password(app, admin_login, anonymous, engine):
    me = await admin_login("therapist", "rivera")
    async with browser(app) as elsewhere:  # a second admin session of the same account
        assert (await log_in(elsewhere, "rivera", STAFF_PASSWORD)).status_code == 302
        token = await api_token(anonymous, "rivera", STAFF_PASSWORD)
        assert await api_works(anonymous, token)

        page = await me.get("/admin/account/password")
        assert page.status_code == 200
        assert 'href="http://testserver/admin/account/password"' in page.text  # in the menu
        assert 'name="csrf_token"' in page.text

        wrong = await me.post("/admin/account/password", data=change("not-it-at-all", NEW_PASSWORD))
        assert wrong.status_code == 400
        assert field_errors(wrong.text, "current_password") == [
            "Your current password is not correct."
        ]
        for new, message in (
            ("short", "Ensure this field has at least 8 characters."),
            ("password123", "This password is too common."),
            ("82746193051", "This password is entirely numeric."),
            ("rivera2024", "The password is too similar to the username."),
        ):
            refused = await me.post("/admin/account/password", data=change(STAFF_PASSWORD, new))
            assert refused.status_code == 400, new
            assert field_errors(refused.text, "new_password") == [message], new
        blank = await me.post("/admin/account/password", data=change("", ""))
        assert blank.status_code == 400
        assert (await me.get("/admin/patient/list")).status_code == 200  # still logged in

        changed = await me.post(
            "/admin/account/password", data=change(STAFF_PASSWORD, NEW_PASSWORD)
        )
        assert changed.status_code == 302
        assert changed.headers["location"].endswith("/admin/login?password_changed=1")
        login_page = await me.get(changed.headers["location"])
        assert "Your password was changed." in login_page.text
        # Every session of theirs ended: this one, the other browser's, the API's.
        assert (await me.get("/admin/patient/list")).status_code == 302
        assert (await elsewhere.get("/admin/patient/list")).status_code == 302
        assert not await api_works(anonymous, token)
    async with browser(app) as again:
        assert (await log_in(again, "rivera", STAFF_PASSWORD)).status_code == 400
        assert (await log_in(again, "rivera", NEW_PASSWORD)).status_code == 302
    rows = await audit_rows(engine, "admin_change_own_password")
    assert [(r["actor"], r["outcome"], r["status_code"]) for r in rows] == [
        *[("rivera", "invalid", 400)] * 6,
        ("rivera", "success", 200),
    ]


def new_staff(**values: str) -> dict[str, str]:
    return {
        "username": "okafor",
        "email": "",
        "role": "therapist",
        "password": NEW_PASSWORD,
        **values,
    }


async def test_admins_create_staff(app, settings, admin_login, engine):
    admin = await admin_login("admin", "boss")
    await create_staff(
        settings,
        username="taken",
        password=STAFF_PASSWORD,
        role="therapist",
        email="Taken@Example.com",
    )
    home = (await admin.get("/admin/")).text
    assert 'href="http://testserver/admin/staff"' in home
    form = await admin.get("/admin/staff/new")
    assert form.status_code == 200
    for name in ("username", "email", "role", "password"):
        assert f'id="{name}"' in form.text

    bad = await admin.post(
        "/admin/staff/new",
        data=new_staff(username="no spaces", email="not-an-email", role="boss", password="short"),
    )
    assert bad.status_code == 400
    assert field_errors(bad.text, "username") != []
    assert field_errors(bad.text, "email") == ["Enter a valid email address."]
    assert field_errors(bad.text, "role") != []
    assert field_errors(bad.text, "password") == ["Ensure this field has at least 8 characters."]
    assert 'value="no spaces"' in bad.text  # the form again, as it was sent
    assert NEW_PASSWORD not in bad.text
    for values, field, message in (
        ({"username": "taken"}, "username", "A staff member with this username already exists."),
        (
            {"email": "taken@example.COM"},
            "email",
            "A staff member with this e-mail address already exists.",
        ),
        ({"password": "okafor2024"}, "password", "The password is too similar to the username."),
        (
            {"email": "lighthouse.keeper@example.com", "password": "lighthouse-keeper"},
            "password",
            "The password is too similar to the e-mail address.",
        ),
    ):
        refused = await admin.post("/admin/staff/new", data=new_staff(**values))
        assert refused.status_code == 400, values
        assert field_errors(refused.text, field) == [message], values
    assert await staff_row(engine, "okafor") is None

    created = await admin.post(
        "/admin/staff/new", data=new_staff(email="okafor@example.com", role="admin")
    )
    assert created.status_code == 302, created.text
    assert created.headers["location"].endswith("/admin/staff")
    row = await staff_row(engine, "okafor")
    assert row is not None
    assert (row["email"], row["role"], row["is_active"]) == ("okafor@example.com", "admin", True)
    listing = await admin.get("/admin/staff")
    assert 'data-staff="okafor"' in listing.text
    async with browser(app) as newcomer:
        assert (await log_in(newcomer, "okafor", NEW_PASSWORD)).status_code == 302
    rows = await audit_rows(engine, "admin_create_staff")
    assert [(r["actor"], r["outcome"]) for r in rows] == [
        *[("boss", "invalid")] * 5,
        ("boss", "success"),
    ]
    assert [r["outcome"] for r in await audit_rows(engine, "admin_list_staff")] == ["success"]


async def test_admins_deactivate_and_reactivate_staff(app, settings, admin_login, engine):
    admin = await admin_login("admin", "boss")
    therapist = await admin_login("therapist", "rivera")
    rivera = await staff_id(engine, "rivera")
    listing = (await admin.get("/admin/staff")).text
    assert f'action="http://testserver/admin/staff/{rivera}/active"' in listing

    off = await admin.post(f"/admin/staff/{rivera}/active", data={"active": "0"})
    assert off.status_code == 302
    assert (await staff_row(engine, "rivera"))["is_active"] is False  # type: ignore[index]
    assert (await therapist.get("/admin/patient/list")).status_code == 302  # session ended
    async with browser(app) as client:
        assert (await log_in(client, "rivera", STAFF_PASSWORD)).status_code == 400
        on = await admin.post(f"/admin/staff/{rivera}/active", data={"active": "1"})
        assert on.status_code == 302
        assert (await log_in(client, "rivera", STAFF_PASSWORD)).status_code == 302

    # An admin cannot deactivate themselves (and has no button for it).
    boss = await staff_id(engine, "boss")
    assert f"/admin/staff/{boss}/active" not in listing
    refused = await admin.post(f"/admin/staff/{boss}/active", data={"active": "0"})
    assert refused.status_code == 302
    shown = (await admin.get("/admin/staff")).text
    assert "You cannot deactivate your own account." in shown
    assert (await staff_row(engine, "boss"))["is_active"] is True  # type: ignore[index]
    assert (await admin.get("/admin/staff")).status_code == 200

    for path in ("/admin/staff/999999/active", "/admin/staff/abc/active", "/admin/staff/-1/active"):
        assert (await admin.post(path, data={"active": "0"})).status_code == 404
    off_rows = await audit_rows(engine, "admin_deactivate_staff")
    assert [(r["actor"], r["outcome"], r["status_code"]) for r in off_rows] == [
        ("boss", "success", 200),
        ("boss", "denied", 403),
        ("boss", "not_found", 404),
    ]
    on_rows = await audit_rows(engine, "admin_reactivate_staff")
    assert [r["outcome"] for r in on_rows] == ["success"]


async def test_an_admin_has_a_reset_link_mailed_and_never_chooses_the_password(
    app, settings, admin_login, anonymous, engine, app_inbox
):
    """Issue 22: an admin who set a password could log in as the author of psychotherapy notes
    and read them. Now the link goes to the staff member's own address."""
    admin = await admin_login("admin", "boss")
    await create_staff(
        settings,
        username="rivera",
        password=STAFF_PASSWORD,
        role="therapist",
        email="rivera@clinic.example",
    )
    rivera = await staff_id(engine, "rivera")
    url = f"/admin/staff/{rivera}/password"
    async with browser(app) as therapist:
        assert (await log_in(therapist, "rivera", STAFF_PASSWORD)).status_code == 302
        form = await admin.get(url)
        assert form.status_code == 200
        assert "rivera" in form.text
        assert 'type="password"' not in form.text  # nothing to choose
        # A password sent along anyway is ignored.
        done = await admin.post(url, data={"password": NEW_PASSWORD})
        assert done.status_code == 302
        assert (
            "A password reset link was mailed to rivera" in (await admin.get("/admin/staff")).text
        )
        [mail] = app_inbox.messages
        assert app_inbox.recipients == [["rivera@clinic.example"]]
        assert mail["Subject"] == "Reset your TherapyConnect password"
        # Nothing has changed until rivera uses the link: no password the admin knows works.
        assert (await therapist.get("/admin/patient/list")).status_code == 200
        async with browser(app) as intruder:
            assert (await log_in(intruder, "rivera", NEW_PASSWORD)).status_code == 400
        confirm = await anonymous.post(
            "/api/auth/password-reset/confirm/",
            json={"token": reset_token(mail), "new_password": "rivera-chose-this-9"},
        )
        assert confirm.status_code == 200, confirm.text
        assert (await therapist.get("/admin/patient/list")).status_code == 302  # session ended
    async with browser(app) as client:
        assert (await log_in(client, "rivera", STAFF_PASSWORD)).status_code == 400
        assert (await log_in(client, "rivera", "rivera-chose-this-9")).status_code == 302
    assert app_inbox.recipients[-1] == ["rivera@clinic.example"]
    assert app_inbox.messages[-1]["Subject"] == "Your TherapyConnect password was changed"
    assert (await admin.get("/admin/staff/999999/password")).status_code == 404
    assert (await admin.post("/admin/staff/99999999999/password", data={})).status_code == 404
    rows = await audit_rows(engine, "admin_reset_staff_password")
    assert [(r["actor"], r["outcome"]) for r in rows] == [("boss", "success")]


async def test_no_reset_link_without_an_address_or_for_a_deactivated_account(
    app, settings, admin_login, engine, app_inbox
):
    admin = await admin_login("admin", "boss")
    await create_staff(settings, username="okafor", password=STAFF_PASSWORD, role="therapist")
    await create_staff(
        settings, username="gone", password=STAFF_PASSWORD, role="therapist", email="g@x.example"
    )
    gone = await staff_id(engine, "gone")
    assert (
        await admin.post(f"/admin/staff/{gone}/active", data={"active": "0"})
    ).status_code == 302
    for username, message in (
        ("okafor", "This staff member has no e-mail address to send a reset link to."),
        ("gone", "This staff member is deactivated: reactivate them first."),
    ):
        member = await staff_id(engine, username)
        refused = await admin.post(f"/admin/staff/{member}/password", data={})
        assert refused.status_code == 400, username
        assert message in refused.text, username
    assert app_inbox.messages == []
    async with browser(app) as client:
        assert (await log_in(client, "okafor", STAFF_PASSWORD)).status_code == 302


async def test_therapists_see_no_staff_management(admin_login, engine):
    therapist = await admin_login("therapist", "rivera")
    await admin_login("admin", "boss")
    boss = await staff_id(engine, "boss")
    home = (await therapist.get("/admin/")).text
    assert "/admin/staff/" not in home
    assert re.search(r">\s*Staff\s*<", home) is None
    for path in ("/admin/staff", "/admin/staff/new", f"/admin/staff/{boss}/password"):
        assert (await therapist.get(path)).status_code == 403, path
    for path, data in (
        (f"/admin/staff/{boss}/active", {"active": "0"}),
        (f"/admin/staff/{boss}/password", {"password": NEW_PASSWORD}),
        ("/admin/staff/new", new_staff()),
    ):
        assert (await therapist.post(path, data=data)).status_code == 403, path
    assert (await staff_row(engine, "boss"))["is_active"] is True  # type: ignore[index]
    assert await staff_row(engine, "okafor") is None
    # Their own password is theirs to change.
    assert (await therapist.get("/admin/account/password")).status_code == 200


async def test_staff_forms_need_a_csrf_token(admin_login, engine):
    admin = await admin_login("admin", "boss")
    token = admin.headers.pop("X-CSRFToken")
    assert (await admin.post("/admin/staff/new", data=new_staff())).status_code == 403
    assert await staff_row(engine, "okafor") is None
    form_token = await csrf_token(admin, "/admin/staff/new")
    assert form_token != ""
    created = await admin.post("/admin/staff/new", data=new_staff(csrf_token=form_token))
    assert created.status_code == 302
    assert token


async def test_an_admin_resets_only_other_passwords(app, admin_login, engine):
    admin = await admin_login("admin", "boss")
    boss = await staff_id(engine, "boss")
    assert f"/admin/staff/{boss}/password" not in (await admin.get("/admin/staff")).text
    refused = await admin.post(f"/admin/staff/{boss}/password", data={"password": NEW_PASSWORD})
    assert refused.status_code == 302
    assert (
        "Change your own password with your current one" in (await admin.get("/admin/staff")).text
    )
    async with browser(app) as client:
        assert (await log_in(client, "boss", STAFF_PASSWORD)).status_code == 302
    rows = await audit_rows(engine, "admin_reset_staff_password")
    assert [(r["outcome"], r["status_code"]) for r in rows] == [("denied", 403)]


async def test_guessing_the_current_password_is_throttled(admin_login, engine):
    me = await admin_login("therapist", "rivera")
    for _ in range(10):
        wrong = await me.post("/admin/account/password", data=change("a-wrong-guess", NEW_PASSWORD))
        assert wrong.status_code == 400
    throttled = await me.post("/admin/account/password", data=change(STAFF_PASSWORD, NEW_PASSWORD))
    assert throttled.status_code == 429
    wait = int(throttled.headers["retry-after"])
    assert wait >= 1
    assert (
        f"Too many wrong passwords. Request was throttled. Expected available in {wait} seconds."
    ) in throttled.text
    assert (await me.get("/admin/patient/list")).status_code == 200  # unchanged, still in
    rows = await audit_rows(engine, "admin_change_own_password")
    assert [r["status_code"] for r in rows] == [400] * 10 + [429]

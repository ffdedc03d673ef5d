"""Issue 22: a patient's password or e-mail address changed through the API is announced to the
address they had (whoever changed it: a therapist could otherwise take the account over
unseen), and a patient's `current_password` is guessed no faster than the login allows."""

import re
import uuid
from typing import Any

import httpx

from tests.clock import within_one_rate_window
from tests.factories import create_patient
from tests.mail.smtp import Inbox, mail_text

PASSWORD = "correct-horse"  # the factories' patients'
NEW_PASSWORD = "battery-staple-9"
FAILURES_ALLOWED = 10  # API.md: 10 failed logins a minute per account and address
THROTTLED = re.compile(r"Request was throttled\. Expected available in ([1-9][0-9]*) seconds\.")
CHANGED = "Your TherapyConnect password was changed"
EMAIL_CHANGED = "The e-mail address of your TherapyConnect account was changed"


def _address() -> str:
    return f"jane-{uuid.uuid4().hex[:6]}@example.org"


async def _token(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    response = await client.post(
        "/api/auth/token/", data={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    match = THROTTLED.fullmatch(response.json()["detail"])
    assert match, response.text
    assert response.headers["Retry-After"] == match.group(1)


async def test_current_password_guesses_are_failed_logins(client, client_at):
    """With a stolen access token it was a password oracle at the API's rate."""
    patient = await create_patient(client)
    path = f"/api/patients/{patient['id']}/"
    thief = client_at("10.8.0.1", await _token(client_at("10.8.0.1"), patient["id"]))
    for guess in range(FAILURES_ALLOWED):
        wrong = await thief.patch(
            path, json={"password": NEW_PASSWORD, "current_password": f"guess-{guess}-x"}
        )
        assert wrong.status_code == 400, (guess, wrong.text)
    right = await thief.patch(path, json={"password": NEW_PASSWORD, "current_password": PASSWORD})
    assert_throttled(right)
    # The same budget as the login's: this address is refused there too, another is not.
    login = await client_at("10.8.0.1").post(
        "/api/auth/token/", data={"username": patient["phone_no"], "password": PASSWORD}
    )
    assert_throttled(login)
    assert await _token(client_at("10.8.0.2"), patient["id"])
    events = (await client.get("/api/audit/", params={"patient": patient["id"]})).json()
    statuses = [e["status_code"] for e in events["results"] if e["action"] == "update_patient"]
    assert sorted(statuses) == [400] * FAILURES_ALLOWED + [429]


async def test_failed_logins_count_against_the_current_password_too(client, client_at):
    patient = await create_patient(client)
    owner = client_at("10.8.1.1", await _token(client_at("10.8.1.1"), patient["id"]))
    await within_one_rate_window()
    for _ in range(FAILURES_ALLOWED):
        failed = await client_at("10.8.1.1").post(
            "/api/auth/token/", data={"username": patient["id"], "password": "not-it-at-all"}
        )
        assert failed.status_code == 401
    refused = await owner.patch(
        f"/api/patients/{patient['id']}/",
        json={"password": NEW_PASSWORD, "current_password": PASSWORD},
    )
    assert_throttled(refused)


async def test_staff_setting_a_patients_password_is_announced(client, app_inbox: Inbox):
    patient = await create_patient(client, email=_address())
    response = await client.patch(
        f"/api/patients/{patient['id']}/", json={"password": NEW_PASSWORD}
    )
    assert response.status_code == 200, response.text
    [mail] = app_inbox.messages
    assert app_inbox.recipients == [[patient["email"]]]
    assert mail["Subject"] == CHANGED
    text = mail_text(mail)
    assert "by a member of the practice's staff" in text
    assert NEW_PASSWORD not in text
    assert patient["first_name"] not in text  # nothing of the record


async def test_a_patients_own_change_is_announced(app, client, login, app_inbox: Inbox):
    patient = await create_patient(client, email=_address())
    token = await login(patient["id"], PASSWORD)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token}"},
    ) as own:
        response = await own.patch(
            f"/api/patients/{patient['id']}/",
            json={"password": NEW_PASSWORD, "current_password": PASSWORD},
        )
    assert response.status_code == 200, response.text
    [mail] = app_inbox.messages
    assert mail["Subject"] == CHANGED
    assert "by you, with your current password" in mail_text(mail)


async def test_a_changed_address_is_announced_to_the_old_one(client, app_inbox: Inbox):
    """A therapist who puts their own address on a patient, then asks for a reset link, has
    the account: the patient hears of it at the address they had."""
    old, new = _address(), _address()
    patient = await create_patient(client, email=old)
    path = f"/api/patients/{patient['id']}/"
    response = await client.patch(path, json={"email": new, "password": NEW_PASSWORD})
    assert response.status_code == 200, response.text
    assert app_inbox.recipients == [[old], [old]]
    assert sorted(m["Subject"] for m in app_inbox.messages) == [EMAIL_CHANGED, CHANGED]
    for mail in app_inbox.messages:
        assert new not in mail.as_string()
    # The same address again, in another case, or another field: nothing to announce.
    for body in ({"email": new.upper()}, {"first_name": "Janet"}):
        assert (await client.patch(path, json=body)).status_code == 200
    assert len(app_inbox.messages) == 2


async def test_nothing_is_mailed_for_a_write_that_fails(client, app_inbox: Inbox):
    patient = await create_patient(client, email=_address())
    stale = await client.patch(
        f"/api/patients/{patient['id']}/",
        json={"password": NEW_PASSWORD, "email": _address()},
        headers={"If-Match": '"999"'},
    )
    assert stale.status_code == 412, stale.text
    assert app_inbox.messages == []


async def test_no_address_no_mail(client, app_inbox: Inbox):
    patient = await create_patient(client)
    response = await client.patch(
        f"/api/patients/{patient['id']}/", json={"password": NEW_PASSWORD}
    )
    assert response.status_code == 200, response.text
    first: dict[str, Any] = response.json()
    assert first["email"] is None
    assert app_inbox.messages == []

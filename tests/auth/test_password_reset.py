"""Password resets (OWASP's Forgot Password cheat sheet): a mail through a real SMTP server, a
link with a single-use token, the same answer for an account nobody has."""

import asyncio
import logging
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text

from app.auth import reset
from app.auth.commands import create_staff
from app.core.config import Settings
from app.mail.mailer import SmtpMailer
from app.patients.commands import purge
from tests.factories import create_patient
from tests.mail.smtp import Inbox, free_port, mail_text, smtp_settings

REQUEST = "/api/auth/password-reset/"
CONFIRM = "/api/auth/password-reset/confirm/"
LOGIN = "/api/auth/token/"
REFRESH = "/api/auth/refresh/"
REQUESTED = {
    "detail": "If the account exists and has an e-mail address, a reset link has been sent."
}
INVALID = {"token": ["Invalid or expired token."]}
OLD_PASSWORD = "correct-horse"  # the factories' patients'
NEW_PASSWORD = "brand-new-secret-9"
STAFF_PASSWORD = "staff-password-1"


@pytest.fixture
def inbox(app_inbox: Inbox) -> Inbox:
    return app_inbox


@pytest.fixture
async def patient(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create_patient(client, email=f"jane-{uuid.uuid4().hex[:6]}@example.org")


def _token(inbox: Inbox, settings: Settings) -> str:
    """The token of the last mail, from its link (which must start with the configured base)."""
    body: str = inbox.messages[-1].get_content()
    [link] = re.findall(r"http\S+", body)
    base = settings.public_base_url or f"http://{settings.host}:{settings.port}"
    assert link.startswith(f"{base}/reset-password?token=")
    token: str = parse_qs(urlsplit(link).query)["token"][0]
    assert token in body.replace(link, "")  # the token by itself too
    return token


async def _request(anonymous: httpx.AsyncClient, username: str) -> httpx.Response:
    response = await anonymous.post(REQUEST, json={"username": username})
    assert response.status_code == 202, response.text
    assert response.json() == REQUESTED
    return response


async def _login(anonymous: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await anonymous.post(LOGIN, data={"username": username, "password": password})


async def test_a_patient_resets_by_mail_and_every_old_token_stops_working(
    anonymous, inbox, patient, settings
):
    tokens = (await _login(anonymous, patient["id"], OLD_PASSWORD)).json()
    await _request(anonymous, patient["email"].upper())
    [mail] = inbox.messages
    assert inbox.recipients == [[patient["email"]]]
    assert mail["Subject"] == "Reset your TherapyConnect password"
    assert mail["From"] == settings.mail_from
    token = _token(inbox, settings)

    answer = await anonymous.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"detail": "Password has been reset."}
    # The owner is told, at the same address: when and how, never the password or the token.
    assert len(inbox.messages) == 2
    assert inbox.recipients[-1] == [patient["email"]]
    changed = inbox.messages[-1]
    assert changed["Subject"] == "Your TherapyConnect password was changed"
    text = mail_text(changed)
    assert "with a password reset link sent to this address" in text
    assert NEW_PASSWORD not in text
    assert token not in text

    assert (await _login(anonymous, patient["id"], OLD_PASSWORD)).status_code == 401
    assert (await _login(anonymous, patient["id"], NEW_PASSWORD)).status_code == 200
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (
        await anonymous.get(f"/api/patients/{patient['id']}/", headers=bearer)
    ).status_code == 401
    refreshed = await anonymous.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401


async def test_an_address_another_patient_tried_to_take_still_resets_its_holder(
    anonymous, client, inbox, patient, settings
):
    other = await create_patient(client)
    taken = await client.patch(
        f"/api/patients/{other['id']}/", json={"email": patient["email"].upper()}
    )
    assert taken.status_code == 400
    await _request(anonymous, patient["email"].upper())
    assert inbox.recipients == [[patient["email"]]]


async def test_staff_reset_by_username_and_the_reset_is_audited(
    anonymous, client, inbox, settings, engine
):
    await create_staff(settings, username="rivera", password=STAFF_PASSWORD, role="therapist")
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE staff SET email = 'rivera@example.org' WHERE username = 'rivera'")
        )
    await _request(anonymous, "rivera")
    assert inbox.recipients == [["rivera@example.org"]]
    token = _token(inbox, settings)
    answer = await anonymous.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
    assert answer.status_code == 200, answer.text
    assert (await _login(anonymous, "rivera", NEW_PASSWORD)).status_code == 200
    trail = (await client.get("/api/audit/", params={"actor": "rivera"})).json()["results"]
    actions = {(event["action"], event["status_code"]) for event in trail}
    assert {("password_reset_request", 202), ("password_reset", 200)} <= actions


async def test_an_unknown_account_gets_the_same_answer_in_about_the_same_time(
    anonymous, inbox, patient
):
    timings: dict[str, float] = {}
    for name in (patient["email"], "nobody@example.org", "no-such-user", patient["id"]):
        started = time.monotonic()
        response = await _request(anonymous, name)
        timings[name] = time.monotonic() - started
        assert dict(response.headers).keys() >= {"content-type"}
    assert len(inbox.messages) == 2  # to the patient, twice; nobody else
    assert min(timings.values()) >= reset.ANSWER_FLOOR_SECONDS
    assert max(timings.values()) - min(timings.values()) < 0.1


async def test_an_account_without_an_address_gets_no_mail_and_the_same_answer(
    anonymous, client, inbox
):
    patient = await create_patient(client)  # no e-mail
    await _request(anonymous, patient["phone_no"])
    assert inbox.messages == []


async def test_a_token_works_once(anonymous, inbox, patient, settings):
    await _request(anonymous, patient["id"])
    token = _token(inbox, settings)
    first = await anonymous.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
    assert first.status_code == 200
    again = await anonymous.post(CONFIRM, json={"token": token, "new_password": "another-one-77"})
    assert again.status_code == 400
    assert again.json() == INVALID
    assert (await _login(anonymous, patient["id"], NEW_PASSWORD)).status_code == 200


async def test_an_expired_or_unknown_token_is_refused(anonymous, inbox, patient, settings, engine):
    await _request(anonymous, patient["id"])
    token = _token(inbox, settings)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE password_reset_tokens SET expires_at = now() - interval '1 second'")
        )
    for candidate in (token, "not-a-token-anybody-was-given"):
        answer = await anonymous.post(
            CONFIRM, json={"token": candidate, "new_password": NEW_PASSWORD}
        )
        assert answer.status_code == 400
        assert answer.json() == INVALID
    assert (await _login(anonymous, patient["id"], OLD_PASSWORD)).status_code == 200


async def test_a_token_expires_after_the_configured_time(anonymous, inbox, patient, engine):
    await _request(anonymous, patient["id"])
    async with engine.connect() as connection:
        lifetime = await connection.scalar(
            text("SELECT extract(epoch FROM expires_at - created_at) FROM password_reset_tokens")
        )
    assert float(lifetime) == 30 * 60


async def test_a_new_request_makes_the_earlier_token_worthless(
    anonymous, inbox, patient, settings, engine
):
    await _request(anonymous, patient["id"])
    first = _token(inbox, settings)
    await _request(anonymous, patient["phone_no"])
    second = _token(inbox, settings)
    assert first != second
    refused = await anonymous.post(CONFIRM, json={"token": first, "new_password": NEW_PASSWORD})
    assert refused.json() == INVALID
    async with engine.connect() as connection:
        stored = (await connection.execute(text("SELECT digest FROM password_reset_tokens"))).all()
    assert len(stored) == 1
    assert second not in str(stored)  # kept as a digest only
    done = await anonymous.post(CONFIRM, json={"token": second, "new_password": NEW_PASSWORD})
    assert done.status_code == 200


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("password123", "This password is too common."),
        ("8675309123", "This password is entirely numeric."),
        ("short", "Ensure this field has at least 8 characters."),
    ],
)
async def test_a_weak_new_password_is_refused_and_the_token_kept(
    anonymous, inbox, patient, settings, password, message
):
    await _request(anonymous, patient["id"])
    token = _token(inbox, settings)
    answer = await anonymous.post(CONFIRM, json={"token": token, "new_password": password})
    assert answer.status_code == 400
    assert answer.json() == {"new_password": [message]}
    done = await anonymous.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
    assert done.status_code == 200


async def test_a_new_password_like_the_accounts_own_names_is_refused(
    anonymous, inbox, client, settings
):
    patient = await create_patient(
        client, first_name="Bartholomew", email="bartholomew.x@example.org"
    )
    await _request(anonymous, patient["id"])
    token = _token(inbox, settings)
    answer = await anonymous.post(CONFIRM, json={"token": token, "new_password": "bartholomew1"})
    assert answer.status_code == 400
    assert answer.json() == {"new_password": ["The password is too similar to the first name."]}
    assert (await _login(anonymous, patient["id"], OLD_PASSWORD)).status_code == 200
    assert len(inbox.messages) == 1  # the reset link; no change to announce


async def test_requests_are_throttled_per_name_and_per_address(
    anonymous, client_at, inbox, monkeypatch
):
    monkeypatch.setattr(reset, "ANSWER_FLOOR_SECONDS", 0.0)
    first = client_at("10.1.0.1")
    for _ in range(5):
        await _request(first, "someone@example.org")
    throttled = await first.post(REQUEST, json={"username": "someone@example.org"})
    assert throttled.status_code == 429
    wait = int(throttled.headers["Retry-After"])
    assert 1 <= wait <= 3600  # PASSWORD_RESET_RATE_LIMIT: 5/hour
    assert throttled.json() == {
        "detail": f"Request was throttled. Expected available in {wait} seconds."
    }
    assert (await first.post(REQUEST, json={"username": "other@example.org"})).status_code == 202

    second = client_at("10.1.0.2")
    for number in range(20):
        await _request(second, f"user{number}@example.org")
    throttled = await second.post(REQUEST, json={"username": "fresh@example.org"})
    assert throttled.status_code == 429
    assert "Retry-After" in throttled.headers


async def test_mails_are_limited_per_account_silently(
    anonymous, client_at, inbox, patient, monkeypatch
):
    monkeypatch.setattr(reset, "ANSWER_FLOOR_SECONDS", 0.0)
    names = [patient["id"], patient["phone_no"], patient["email"]]
    for number in range(6):
        await _request(client_at(f"10.2.0.{number}"), names[number % 3])
    assert len(inbox.messages) == 5


async def test_confirming_is_throttled_per_address(anonymous, client_at, inbox):
    attacker = client_at("10.3.0.1")
    body = {"token": "guess", "new_password": NEW_PASSWORD}
    for _ in range(20):
        assert (await attacker.post(CONFIRM, json=body)).status_code == 400
    throttled = await attacker.post(CONFIRM, json=body)
    assert throttled.status_code == 429
    assert "Retry-After" in throttled.headers
    assert (await client_at("10.3.0.2").post(CONFIRM, json=body)).status_code == 400


@pytest.mark.parametrize("broken", ["refusing", "unreachable"])
async def test_a_broken_smtp_server_does_not_change_the_answer(
    anonymous, app, inbox, patient, settings, caplog, broken
):
    if broken == "refusing":
        inbox.refuse = "554 Transaction failed"
    else:
        app.state.mailer = SmtpMailer(
            smtp_settings(settings, free_port())
        )  # the inbox fixture restores
    caplog.set_level(logging.INFO)
    await _request(anonymous, patient["email"])
    assert inbox.messages == []
    warnings = [r for r in caplog.records if r.name == "app.mail.mailer"]
    assert [r.levelno for r in warnings] == [logging.WARNING]


async def test_no_token_or_address_in_any_log_line(anonymous, inbox, patient, settings, caplog):
    caplog.set_level(logging.DEBUG)
    await _request(anonymous, patient["email"])
    token = _token(inbox, settings)
    await anonymous.post(CONFIRM, json={"token": token, "new_password": "password123"})
    await anonymous.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
    await anonymous.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
    for record in caplog.records:
        if record.name.startswith("mail.log"):
            continue  # the test SMTP server's own log
        line = record.getMessage() + str(record.args)
        assert token not in line
        assert patient["email"] not in line
        assert NEW_PASSWORD not in line


async def test_the_outbox_gets_the_mail_when_no_smtp_host_is_set(anonymous, patient, settings):
    outbox = settings.data_dir / "outbox"
    before = set(outbox.glob("*.eml")) if outbox.exists() else set()
    await _request(anonymous, patient["email"])
    [written] = set(outbox.glob("*.eml")) - before
    assert patient["email"] in written.read_text()
    assert (written.stat().st_mode & 0o777) == 0o600


async def test_the_link_starts_with_the_public_base_url_never_the_host_header(
    anonymous, app, inbox, patient, settings
):
    await anonymous.post(REQUEST, json={"username": patient["id"]}, headers={"Host": "evil.test"})
    assert "evil.test" not in inbox.messages[-1].get_content()
    _token(inbox, settings)  # http://{HOST}:{PORT}/reset-password?token=…
    public = settings.model_copy(update={"public_base_url": "https://api.example.org"})
    app.state.settings = public
    try:
        await _request(anonymous, patient["id"])
    finally:
        app.state.settings = settings
    assert "https://api.example.org/reset-password?token=" in inbox.messages[-1].get_content()


async def test_a_deactivated_staff_member_gets_no_mail(anonymous, inbox, settings, engine):
    await create_staff(settings, username="gone", password=STAFF_PASSWORD, role="therapist")
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE staff SET email = 'gone@example.org', is_active = false"
                " WHERE username = 'gone'"
            )
        )
    await _request(anonymous, "gone@example.org")
    assert inbox.messages == []


async def test_two_confirmations_at_once_set_one_password(anonymous, inbox, patient, settings):
    await _request(anonymous, patient["id"])
    token = _token(inbox, settings)
    answers = await asyncio.gather(
        anonymous.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD}),
        anonymous.post(CONFIRM, json={"token": token, "new_password": "a-rival-password-2"}),
    )
    assert sorted(answer.status_code for answer in answers) == [200, 400]


async def test_a_deleted_account_resets_nothing_and_purging_it_deletes_its_tokens(
    anonymous, client, inbox, patient, engine, settings
):
    await _request(anonymous, patient["id"])
    token = _token(inbox, settings)
    assert (await client.delete(f"/api/patients/{patient['id']}/")).status_code == 204
    refused = await anonymous.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
    assert refused.status_code == 400
    assert list(refused.json()) == ["token"]
    later = datetime.now(UTC) + timedelta(days=settings.patient_retention_days + 1)
    assert patient["id"] in await purge(settings, now=later)
    async with engine.connect() as connection:
        left = await connection.scalar(text("SELECT count(*) FROM password_reset_tokens"))
    assert left == 0

"""Throttling (API.md "Authentication", "Errors: 429"): failed logins per account and client
address, per address over all accounts, a growing delay per account, and API requests per
account."""

import re
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.auth.commands import create_staff
from app.core.config import Settings
from app.main import create_app
from tests.clock import within_one_rate_window
from tests.factories import create_patient

LOGIN = "/api/auth/token/"
FAILURES_ALLOWED = 10  # API.md: at most 10 failed logins a minute per account and address
ADDRESS_CEILING = 50  # API.md: at most 50 a minute per address over all accounts
PASSWORD = "right-password-1"
WRONG = "wrong-password-1"
THROTTLED = re.compile(r"Request was throttled\. Expected available in ([1-9][0-9]*) seconds\.")


@pytest.fixture(autouse=True)
async def one_rate_window() -> None:
    """Each test's bursts of failures land in one minute's window (tests/clock.py says why)."""
    await within_one_rate_window(seconds=3)


@pytest.fixture
async def staff_user(settings: Settings) -> str:
    username = f"therapist-{uuid.uuid4().hex[:6]}"
    await create_staff(settings, username=username, password=PASSWORD, role="therapist")
    return username


async def _login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(LOGIN, data={"username": username, "password": password})


def assert_throttled(response: httpx.Response, longest: int = 60) -> int:
    assert response.status_code == 429, response.text
    body = response.json()
    assert set(body) == {"detail"}
    match = THROTTLED.fullmatch(body["detail"])
    assert match, body
    wait = int(match.group(1))
    assert 1 <= wait <= longest
    assert response.headers["Retry-After"] == str(wait)
    return wait


async def test_brute_force_is_throttled_after_ten_failures(client_at, staff_user):
    attacker = client_at("10.0.0.1")
    for attempt in range(FAILURES_ALLOWED):
        response = await _login(attacker, staff_user, f"{WRONG}-{attempt}")
        assert response.status_code == 401, (attempt, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    for attempt in range(5):
        assert_throttled(await _login(attacker, staff_user, f"{WRONG}-more-{attempt}"))


async def test_throttled_even_with_the_right_password(client_at, staff_user):
    attacker = client_at("10.0.0.2")
    for _ in range(FAILURES_ALLOWED):
        assert (await _login(attacker, staff_user, WRONG)).status_code == 401
    response = await _login(attacker, staff_user, PASSWORD)
    assert_throttled(response)
    assert "access_token" not in response.text


async def test_an_account_is_slowed_from_other_addresses_never_locked_out(client_at, staff_user):
    for n in range(FAILURES_ALLOWED):
        response = await _login(client_at(f"10.0.1.{n + 1}"), staff_user, WRONG)
        assert response.status_code == 401, n
    # Ten failures from elsewhere: a clean address with the right password gets in (after a
    # second's delay), and a wrong one is an ordinary 401.
    started = time.monotonic()
    response = await _login(client_at("10.0.2.1"), staff_user, PASSWORD)
    assert response.status_code == 200, response.text
    assert time.monotonic() - started >= 1
    assert (await _login(client_at("10.0.2.2"), staff_user, WRONG)).status_code == 401


async def test_a_patients_id_phone_and_email_are_one_account(client, client_at):
    patient = await create_patient(client, email=f"p{uuid.uuid4().hex[:8]}@example.com")
    typist = client_at("10.0.3.1")
    names = [patient["phone_no"], patient["id"], patient["email"].upper()]
    for n in range(FAILURES_ALLOWED):
        assert (await _login(typist, names[n % 3], WRONG)).status_code == 401, n
    for name in names:
        assert_throttled(await _login(typist, name, "correct-horse"))
    response = await _login(client_at("10.0.3.2"), patient["email"], "correct-horse")
    assert response.status_code == 200, response.text


async def test_an_address_past_its_ceiling_is_refused_for_what_it_failed_only(
    client_at, staff_user
):
    sprayer = client_at("10.0.5.1")
    for n in range(ADDRESS_CEILING):
        response = await _login(sprayer, f"guess-{n}", WRONG)
        assert response.status_code == 401, n
    assert_throttled(await _login(sprayer, "guess-0", WRONG))
    # An account it has not failed for: still let in with the right password (slowed).
    response = await _login(sprayer, staff_user, PASSWORD)
    assert response.status_code == 200, response.text
    response = await _login(client_at("10.0.5.2"), "guess-0", WRONG)
    assert response.status_code == 401, response.text


async def test_one_typist_does_not_lock_a_clinic_out(client_at, settings, staff_user):
    """Everyone behind one NAT shares an address: one account's failures are that account's."""
    other = f"therapist-{uuid.uuid4().hex[:6]}"
    await create_staff(settings, username=other, password=PASSWORD, role="therapist")
    clinic = client_at("10.0.7.1")
    for _ in range(FAILURES_ALLOWED):
        assert (await _login(clinic, staff_user, WRONG)).status_code == 401
    assert_throttled(await _login(clinic, staff_user, PASSWORD))
    response = await _login(clinic, other, PASSWORD)
    assert response.status_code == 200, response.text


async def test_successful_logins_do_not_use_up_the_budget(client_at, staff_user):
    user = client_at("10.0.6.1")
    for _ in range(FAILURES_ALLOWED - 1):
        assert (await _login(user, staff_user, WRONG)).status_code == 401
    for _ in range(FAILURES_ALLOWED + 5):
        response = await _login(user, staff_user, PASSWORD)
        assert response.status_code == 200, response.text
    assert (await _login(user, staff_user, WRONG)).status_code == 401  # the tenth failure
    assert_throttled(await _login(user, staff_user, PASSWORD))


@pytest.fixture
async def limited_app(settings: Settings, anonymous: httpx.AsyncClient) -> AsyncIterator[FastAPI]:
    """The service with an API budget of 5 requests a minute per account."""
    application = create_app(settings.model_copy(update={"api_rate_limit": "5/minute"}))
    async with application.router.lifespan_context(application):
        yield application


async def test_api_requests_are_throttled_per_account_not_per_token(limited_app, settings):
    """Issue 22, defect 16a: the README said per token; the budget is the account's, shared by
    the tokens of all its logins and refreshes (a login more is no budget more)."""
    transport = httpx.ASGITransport(app=limited_app)
    busy: list[str] = []  # three tokens of one admin: two logins, and a refresh of the first
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anon:
        username = f"admin-{uuid.uuid4().hex[:6]}"
        await create_staff(settings, username=username, password=PASSWORD, role="admin")
        first = (await _login(anon, username, PASSWORD)).json()
        second = (await _login(anon, username, PASSWORD)).json()
        refreshed = await anon.post(
            "/api/auth/refresh/", json={"refresh_token": first["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        busy = [first["access_token"], second["access_token"], refreshed.json()["access_token"]]
        assert len(set(busy)) == 3
        other = f"therapist-{uuid.uuid4().hex[:6]}"
        await create_staff(settings, username=other, password=PASSWORD, role="therapist")
        quiet_token = (await _login(anon, other, PASSWORD)).json()["access_token"]

    def client_for(token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {token}"},
        )

    async with (
        client_for(busy[0]) as one,
        client_for(busy[1]) as two,
        client_for(busy[2]) as three,
        client_for(quiet_token) as quiet,
    ):
        for n, client in enumerate((one, two, three, one, two)):
            response = await client.get("/api/patients/")
            assert response.status_code == 200, (n, response.text)
        for client in (one, two, three):
            assert_throttled(await client.get("/api/patients/"))
        assert_throttled(await three.get("/api/patients/p_zzzzzz/"))
        response = await quiet.get("/api/patients/")
        assert response.status_code == 200, response.text

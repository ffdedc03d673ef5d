"""Issue 22: anyone could make any account's logins take 30 s (failures from anywhere grew a
per-account delay that held back the owner too). Device tokens (OWASP's device cookies): a
client that has logged in to the account before is neither slowed nor refused for strangers'
failures; unknown clients still are; a device token's own failures are counted per token."""

import time
import uuid
from collections.abc import Awaitable

import httpx

from app.auth.commands import create_staff
from app.auth.devices import DeviceTokens
from app.auth.permissions import staff_principal
from app.core.config import Settings
from tests.auth.test_throttling import FAILURES_ALLOWED, PASSWORD, WRONG, assert_throttled
from tests.clock import within_one_rate_window

LOGIN = "/api/auth/token/"
DEVICE_FAILURES_ALLOWED = 10  # LOGIN_DEVICE_RATE_LIMIT: 10 an hour per device token
HOUR = 3600  # the device limit's window
FAST = 0.5  # seconds: no delay was waited


async def _staff(settings: Settings) -> str:
    username = f"therapist-{uuid.uuid4().hex[:6]}"
    await create_staff(settings, username=username, password=PASSWORD, role="therapist")
    return username


async def _login(
    client: httpx.AsyncClient,
    username: str,
    password: str,
    device: str | None = None,
    *,
    via: str = "form",
) -> httpx.Response:
    data = {"username": username, "password": password}
    headers = {}
    if device is not None and via == "form":
        data["device_token"] = device
    elif device is not None and via == "header":
        headers["X-Device-Token"] = device
    elif device is not None:
        headers["Cookie"] = f"device_token={device}"
    return await client.post(LOGIN, data=data, headers=headers)


async def _device(client: httpx.AsyncClient, username: str) -> str:
    response = await _login(client, username, PASSWORD)
    assert response.status_code == 200, response.text
    token: str = response.json()["device_token"]
    return token


async def _timed(login: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await login
    return response, time.monotonic() - started


async def test_a_login_gives_a_device_token_in_the_body_and_a_cookie(client_at, settings):
    username = await _staff(settings)
    response = await _login(client_at("10.20.0.1"), username, PASSWORD)
    assert response.status_code == 200, response.text
    token = response.json()["device_token"]
    assert isinstance(token, str)
    assert len(token) > 20
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"device_token={token};")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict", "path=/api/auth/token/"} <= attributes
    assert f"max-age={settings.device_token_ttl_seconds}" in attributes
    assert await _device(client_at("10.20.0.1"), username) != token  # a new one each login


async def test_strangers_failures_neither_slow_nor_refuse_a_known_device(client_at, settings):
    username = await _staff(settings)
    clinic = client_at("10.20.1.1")  # everyone at the clinic shares the address
    device = await _device(clinic, username)
    await within_one_rate_window()
    for attempt in range(FAILURES_ALLOWED):
        assert (await _login(clinic, username, f"{WRONG}-{attempt}")).status_code == 401
    # One more from elsewhere: the account's failures are past its limit (a delay from now on).
    assert (await _login(client_at("10.20.1.2"), username, WRONG)).status_code == 401

    assert_throttled(await _login(clinic, username, PASSWORD))  # an unknown client, this pair
    for via in ("form", "header", "cookie"):
        response, took = await _timed(_login(clinic, username, PASSWORD, device, via=via))
        assert response.status_code == 200, (via, response.text)
        assert took < FAST, via
    # An unknown client elsewhere still gets in, slowed by what strangers did.
    response, took = await _timed(_login(client_at("10.20.1.3"), username, PASSWORD))
    assert response.status_code == 200, response.text
    assert took >= 1


async def test_a_device_token_is_bound_to_its_account_and_signed(client_at, settings):
    mine, theirs = await _staff(settings), await _staff(settings)
    clinic = client_at("10.20.2.1")
    device = await _device(clinic, mine)
    await within_one_rate_window()
    for username in (mine, theirs):
        for _ in range(FAILURES_ALLOWED):
            assert (await _login(clinic, username, WRONG)).status_code == 401
    tampered = device[:-2] + ("AA" if not device.endswith("AA") else "BB")
    assert_throttled(await _login(clinic, theirs, PASSWORD, device))  # not their token
    assert_throttled(await _login(clinic, mine, PASSWORD, tampered))
    for junk in ("not-a-token", "tökén", "x" * 5000):
        assert_throttled(await _login(clinic, mine, PASSWORD, junk))
    assert (await _login(clinic, mine, PASSWORD, device)).status_code == 200


async def test_a_stolen_device_token_guesses_no_faster_than_its_own_limit(client_at, settings):
    username = await _staff(settings)
    device = await _device(client_at("10.20.3.1"), username)
    thief = client_at("10.20.3.2")
    await within_one_rate_window(period=HOUR)
    for attempt in range(DEVICE_FAILURES_ALLOWED):
        response = await _login(thief, username, f"{WRONG}-{attempt}", device)
        assert response.status_code == 401, attempt
    assert_throttled(await _login(thief, username, PASSWORD, device), longest=HOUR)
    assert_throttled(await _login(client_at("10.20.3.3"), username, PASSWORD, device), HOUR)
    # Its failures were the device's alone: the owner elsewhere is not slowed by them.
    response, took = await _timed(_login(client_at("10.20.3.4"), username, PASSWORD))
    assert response.status_code == 200, response.text
    assert took < FAST


async def test_a_success_forgets_the_devices_failures(client_at, settings):
    username = await _staff(settings)
    owner = client_at("10.20.4.1")
    device = await _device(owner, username)
    await within_one_rate_window(period=HOUR)
    for _ in range(DEVICE_FAILURES_ALLOWED - 1):
        assert (await _login(owner, username, WRONG, device)).status_code == 401
    assert (await _login(owner, username, PASSWORD, device)).status_code == 200
    for attempt in range(DEVICE_FAILURES_ALLOWED):
        response = await _login(owner, username, WRONG, device)
        assert response.status_code == 401, attempt
    assert_throttled(await _login(owner, username, PASSWORD, device), longest=HOUR)


def test_what_no_login_made_is_no_device(settings):
    devices = DeviceTokens(settings)
    principal = staff_principal(1, "rivera", "therapist")
    token = devices.issue(principal)
    assert devices.device(token, principal) is not None
    for junk in (None, "", "\udc80", token + "\udc80", token[:-1], "." * 600):
        assert devices.device(junk, principal) is None

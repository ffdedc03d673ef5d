"""Sessions that end: refresh tokens used once, logout, and the events that end every session of
an account (app/auth/sessions.py)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.auth.commands import create_staff
from app.auth.dependencies import TOKEN_REFUSED
from app.patients.commands import purge
from tests.factories import create_patient

TOKEN_URL = "/api/auth/token/"
REFRESH_URL = "/api/auth/refresh/"
LOGOUT_URL = "/api/auth/logout/"
PASSWORD = "staff-password-1"
PATIENT_PASSWORD = "correct-horse"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _login(anonymous: httpx.AsyncClient, username: str, password: str) -> dict[str, Any]:
    response = await anonymous.post(TOKEN_URL, data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _refresh(anonymous: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await anonymous.post(REFRESH_URL, json={"refresh_token": refresh_token})


async def _works(anonymous: httpx.AsyncClient, tokens: dict[str, Any], url: str) -> bool:
    """Whether the access token is taken: a 200, or else the contract's 401 for a refused token."""
    response = await anonymous.get(url, headers=_bearer(tokens["access_token"]))
    if response.status_code == 200:
        return True
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": TOKEN_REFUSED}
    assert response.headers["WWW-Authenticate"] == "Bearer"
    return False


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": "Refresh token not valid or expired."}


@pytest.fixture
async def staff(settings, anonymous) -> dict[str, Any]:
    """A therapist logged in: the tokens of their first session."""
    await create_staff(settings, username="rivera", password=PASSWORD, role="therapist")
    return await _login(anonymous, "rivera", PASSWORD)


LIST = "/api/patients/"


async def test_a_refresh_gives_new_tokens_of_the_same_session(anonymous, settings, staff):
    response = await _refresh(anonymous, staff["refresh_token"])
    assert response.status_code == 200, response.text
    renewed = response.json()
    assert set(renewed) == set(staff) - {"device_token"}  # only a login's has one
    assert renewed["token_type"] == "bearer"
    assert renewed["expires_in"] == settings.access_token_ttl_seconds
    assert renewed["refresh_token"] != staff["refresh_token"]
    assert await _works(anonymous, renewed, LIST)
    # The earlier access token names the same session, which is still open.
    assert await _works(anonymous, staff, LIST)
    again = await _refresh(anonymous, renewed["refresh_token"])
    assert again.status_code == 200, again.text


async def test_a_refresh_token_used_twice_ends_its_session(anonymous, staff):
    renewed = (await _refresh(anonymous, staff["refresh_token"])).json()
    _assert_refused(await _refresh(anonymous, staff["refresh_token"]))
    # Someone holds a copy: every token of the session is dead, the thief's and the owner's.
    assert not await _works(anonymous, renewed, LIST)
    assert not await _works(anonymous, staff, LIST)
    _assert_refused(await _refresh(anonymous, renewed["refresh_token"]))
    # Other sessions of the account are not touched, and the account can log in again.
    assert await _works(anonymous, await _login(anonymous, "rivera", PASSWORD), LIST)


async def test_two_sessions_are_independent(anonymous, staff):
    second = await _login(anonymous, "rivera", PASSWORD)
    response = await anonymous.post(LOGOUT_URL, headers=_bearer(second["access_token"]))
    assert response.status_code == 204
    assert not await _works(anonymous, second, LIST)
    assert await _works(anonymous, staff, LIST)


@pytest.mark.parametrize(
    "token",
    ["", "not-a-refresh-token", "x" * 200, "Qm9vbXNoYWthbGFrYS1yZWZyZXNoLXRva2VuLWV4YW1wbGU"],
)
async def test_unknown_refresh_tokens_are_refused(anonymous, staff, token):
    response = await _refresh(anonymous, token)
    if token == "":
        assert response.status_code == 400
        assert "refresh_token" in response.json()
    else:
        _assert_refused(response)


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("{}", "application/json", 400),
        ('{"refresh_token": 7}', "application/json", 400),
        ('{"refresh_token": "x" ', "application/json", 400),
        ("refresh_token=abc", "application/x-www-form-urlencoded", 415),
        ('{"refresh_token": "' + "x" * 201 + '"}', "application/json", 400),
    ],
)
async def test_a_bad_refresh_body_is_a_4xx(anonymous, body, content_type, status):
    response = await anonymous.post(
        REFRESH_URL, content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    assert response.json()


async def test_an_expired_refresh_token_is_refused(anonymous, engine, staff):
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE auth_refresh_tokens SET expires_at = now()"))
    _assert_refused(await _refresh(anonymous, staff["refresh_token"]))


async def test_a_session_ends_at_its_maximum_age(anonymous, engine, staff):
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE auth_sessions SET expires_at = now()"))
    assert not await _works(anonymous, staff, LIST)
    _assert_refused(await _refresh(anonymous, staff["refresh_token"]))


async def test_a_refresh_token_never_outlives_its_session(anonymous, engine, staff):
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE auth_sessions SET expires_at = now() + interval '1 hour'")
        )
    renewed = (await _refresh(anonymous, staff["refresh_token"])).json()
    assert 3500 < renewed["refresh_expires_in"] <= 3600


async def test_logout_ends_the_session_for_its_tokens(anonymous, staff):
    response = await anonymous.post(LOGOUT_URL, headers=_bearer(staff["access_token"]))
    assert response.status_code == 204
    assert response.content == b""
    assert not await _works(anonymous, staff, LIST)
    _assert_refused(await _refresh(anonymous, staff["refresh_token"]))
    again = await anonymous.post(LOGOUT_URL, headers=_bearer(staff["access_token"]))
    assert again.status_code == 401


async def test_logout_needs_a_token(anonymous):
    response = await anonymous.post(LOGOUT_URL)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def _audited(client: httpx.AsyncClient, **params: str) -> list[tuple[Any, ...]]:
    events = (await client.get("/api/audit/", params=params)).json()["results"]
    return [
        (e["action"], e["actor"], e["actor_kind"], e["outcome"], e["status_code"]) for e in events
    ]


async def test_logout_and_refresh_are_audited(anonymous, client, staff):
    renewed = (await _refresh(anonymous, staff["refresh_token"])).json()
    logout = await anonymous.post(LOGOUT_URL, headers=_bearer(renewed["access_token"]))
    assert logout.status_code == 204, logout.text
    _assert_refused(await _refresh(anonymous, renewed["refresh_token"]))  # the session is over
    assert await _audited(client, actor="rivera") == [  # newest first
        ("logout", "rivera", "staff", "success", 204),
        ("refresh_token", "rivera", "staff", "success", 200),
        ("login", "rivera", "staff", "success", 200),
    ]
    # The ended session names nobody any more.
    assert await _audited(client, action="refresh_token") == [
        ("refresh_token", "unknown", "anonymous", "denied", 401),
        ("refresh_token", "rivera", "staff", "success", 200),
    ]


async def test_a_reused_refresh_token_is_audited_as_its_owner(anonymous, client, staff):
    renewed = (await _refresh(anonymous, staff["refresh_token"])).json()
    _assert_refused(await _refresh(anonymous, staff["refresh_token"]))  # used already
    assert not await _works(anonymous, renewed, LIST)  # reuse ends the session
    assert await _audited(client, actor="rivera") == [
        ("refresh_token", "rivera", "staff", "denied", 401),
        ("refresh_token", "rivera", "staff", "success", 200),
        ("login", "rivera", "staff", "success", 200),
    ]


async def test_a_deactivated_staff_member_cannot_refresh(anonymous, engine, staff):
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE staff SET is_active = false"))
    _assert_refused(await _refresh(anonymous, staff["refresh_token"]))


async def test_a_patients_token_dies_with_them_and_not_revives_with_their_id(
    anonymous, client, settings
):
    """Defect 2: a new patient given a purged patient's id is not reachable with the purged
    patient's tokens, since a token names its session, and the session died with its patient
    (and refused every request while the patient was deleted)."""
    patient = await create_patient(client, id="p_reborn")
    tokens = await _login(anonymous, patient["id"], PATIENT_PASSWORD)
    own = f"/api/patients/{patient['id']}/"
    assert await _works(anonymous, tokens, own)
    assert (await client.delete(own)).status_code == 204
    assert not await _works(anonymous, tokens, own)  # deleted, kept until purged
    _assert_refused(await _refresh(anonymous, tokens["refresh_token"]))
    later = datetime.now(UTC) + timedelta(days=settings.patient_retention_days + 1)
    assert patient["id"] in await purge(settings, now=later)
    await create_patient(client, id="p_reborn", first_name="Someone", last_name="Else")
    assert not await _works(anonymous, tokens, own)
    _assert_refused(await _refresh(anonymous, tokens["refresh_token"]))


async def test_a_password_change_ends_every_session_of_the_patient(anonymous, client):
    patient = await create_patient(client)
    own = f"/api/patients/{patient['id']}/"
    first = await _login(anonymous, patient["id"], PATIENT_PASSWORD)
    second = await _login(anonymous, patient["phone_no"], PATIENT_PASSWORD)
    changed = await client.patch(own, json={"password": "Quokka-Saffron-42"})
    assert changed.status_code == 200, changed.text
    for tokens in (first, second):
        assert not await _works(anonymous, tokens, own)
        _assert_refused(await _refresh(anonymous, tokens["refresh_token"]))
    assert await _works(anonymous, await _login(anonymous, patient["id"], "Quokka-Saffron-42"), own)


async def test_other_changes_keep_the_sessions(anonymous, client):
    patient = await create_patient(client)
    own = f"/api/patients/{patient['id']}/"
    tokens = await _login(anonymous, patient["id"], PATIENT_PASSWORD)
    assert (await client.patch(own, json={"first_name": "Janet"})).status_code == 200
    assert await _works(anonymous, tokens, own)

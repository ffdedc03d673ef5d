"""Logging in and bearer tokens: API.md "Authentication"."""

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import text

from app.auth.commands import create_staff
from app.core import security
from tests.contract import REQUIRED
from tests.factories import create_patient

TOKEN_URL = "/api/auth/token/"
PASSWORD = "staff-password-1"
PATIENT_PASSWORD = "correct-horse"  # what factories.patient_payload creates patients with
TTL = 3600


async def _token_response(anonymous: httpx.AsyncClient, username: str, password: str) -> Any:
    return await anonymous.post(TOKEN_URL, data={"username": username, "password": password})


async def _staff(settings, engine, username: str, role: str = "therapist") -> str:
    """Creates a staff member; returns their id as a token's `sub` names it."""
    await create_staff(settings, username=username, password=PASSWORD, role=role)
    async with engine.connect() as connection:
        staff_id = await connection.scalar(
            text("SELECT id FROM staff WHERE username = :u"), {"u": username}
        )
    return str(staff_id)


def _claims(settings, token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token,
        settings.secret_key.get_secret_value(),
        algorithms=["HS256"],
        issuer=settings.jwt_issuer,
    )
    return claims


def _assert_token_body(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) - {"device_token"} == {  # a login's has the device token (test_devices)
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
    }
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == TTL
    assert isinstance(body["access_token"], str)
    assert isinstance(body["refresh_token"], str)
    assert len(body["refresh_token"]) >= 40
    assert 13 * 24 * 3600 < body["refresh_expires_in"] <= 14 * 24 * 3600
    token: str = body["access_token"]
    return token


def _assert_claims(settings, token: str, *, kind: str, sub: str) -> None:
    claims = _claims(settings, token)
    assert claims["iss"] == settings.jwt_issuer
    assert claims["sub"] == sub
    assert claims["kind"] == kind
    assert abs(claims["iat"] - time.time()) < 60
    assert abs(claims["exp"] - (claims["iat"] + TTL)) <= 2


def _assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    body = response.json()
    assert set(body) == {"detail"}
    assert isinstance(body["detail"], str)
    assert body["detail"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- logging in --------------------------------------------------------------------------


async def test_staff_log_in_with_their_username(anonymous, settings, engine):
    staff_id = await _staff(settings, engine, "rivera")
    token = _assert_token_body(await _token_response(anonymous, "rivera", PASSWORD))
    _assert_claims(settings, token, kind="staff", sub=staff_id)
    response = await anonymous.get("/api/patients/", headers=_bearer(token))
    assert response.status_code == 200, response.text


async def test_patients_log_in_with_their_id(anonymous, client, settings):
    patient = await create_patient(client)
    token = _assert_token_body(await _token_response(anonymous, patient["id"], PATIENT_PASSWORD))
    _assert_claims(settings, token, kind="patient", sub=patient["id"])
    response = await anonymous.get(f"/api/patients/{patient['id']}/", headers=_bearer(token))
    assert response.status_code == 200, response.text


async def test_patients_log_in_with_their_phone_number(anonymous, client, settings):
    patient = await create_patient(client)
    response = await _token_response(anonymous, patient["phone_no"], PATIENT_PASSWORD)
    token = _assert_token_body(response)
    _assert_claims(settings, token, kind="patient", sub=patient["id"])


@pytest.mark.parametrize(
    "typed", ["+14155550142", "14155550142", "4155550142", "(415) 555-0142", "+1 415.555.0142"]
)
async def test_patients_log_in_with_their_phone_number_however_typed(
    anonymous, client, settings, typed
):
    patient = await create_patient(client, phone_no="4155550142")
    response = await _token_response(anonymous, typed, PATIENT_PASSWORD)
    _assert_claims(settings, _assert_token_body(response), kind="patient", sub=patient["id"])


async def test_a_number_left_as_typed_by_migration_0015_logs_in_as_typed(
    anonymous, client, settings, engine
):
    """Two numbers one once canonical were left as they were: each logs in as stored."""
    canonical = await create_patient(client, phone_no="+14155550143")
    legacy = await create_patient(client)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE patients SET phone_no = '14155550143' WHERE id = :id"),
            {"id": legacy["id"]},
        )
    for typed, patient in (("14155550143", legacy), ("+14155550143", canonical)):
        response = await _token_response(anonymous, typed, PATIENT_PASSWORD)
        _assert_claims(settings, _assert_token_body(response), kind="patient", sub=patient["id"])


async def test_a_patient_logs_in_by_e_mail_in_any_case_and_nobody_can_take_it(
    anonymous, client, settings
):
    """Issue 22's reproduction: X sets the victim's address in other letters; refused, so the
    victim's login by e-mail still works."""
    victim = await create_patient(client, email="victim@example.com")
    attacker = await create_patient(client)
    token = _assert_token_body(await _token_response(anonymous, attacker["id"], PATIENT_PASSWORD))
    taken = await anonymous.patch(
        f"/api/patients/{attacker['id']}/",
        json={"email": "VICTIM@example.com"},
        headers=_bearer(token),
    )
    assert taken.status_code == 400
    for typed in ("victim@example.com", "VICTIM@example.com"):
        response = await _token_response(anonymous, typed, PATIENT_PASSWORD)
        _assert_claims(settings, _assert_token_body(response), kind="patient", sub=victim["id"])


async def test_wrong_credentials_get_one_answer(anonymous, client, settings, engine):
    await _staff(settings, engine, "rivera")
    patient = await create_patient(client)
    attempts = [
        ("rivera", "wrong-password"),
        ("nobody", PASSWORD),
        (patient["id"], "wrong-password"),
        (patient["phone_no"], "wrong-password"),
        ("p_zz9zz9", PATIENT_PASSWORD),
        ("+14150000000", PATIENT_PASSWORD),
    ]
    bodies = []
    for username, password in attempts:
        response = await _token_response(anonymous, username, password)
        _assert_unauthenticated(response)
        bodies.append(response.json())
    assert all(body == bodies[0] for body in bodies), bodies


@pytest.mark.parametrize(
    ("data", "missing"),
    [
        ({"password": PASSWORD}, {"username"}),
        ({"username": "rivera"}, {"password"}),
        ({}, {"username", "password"}),
    ],
)
async def test_a_missing_field_is_a_400(anonymous, settings, engine, data, missing):
    await _staff(settings, engine, "rivera")
    response = await anonymous.post(TOKEN_URL, data=data)
    assert response.status_code == 400, response.text
    assert response.json() == {field: [REQUIRED] for field in missing}


class CountingPasswordHash:
    """The app's password hasher, counting how many times a password is checked."""

    def __init__(self, inner: PasswordHash) -> None:
        self.inner = inner
        self.verifications = 0

    def hash(self, password: str) -> str:
        return self.inner.hash(password)

    def verify(self, password: str, password_hash: str) -> bool:
        self.verifications += 1
        return self.inner.verify(password, password_hash)

    def verify_and_update(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        self.verifications += 1
        return self.inner.verify_and_update(password, password_hash)


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("nobody", PASSWORD),  # unknown staff username
        ("p_zz9zz9", PATIENT_PASSWORD),  # unknown patient id
        ("+14150000000", PATIENT_PASSWORD),  # unknown phone number
        ("rivera", "wrong-password"),
        ("patient", "wrong-password"),
        ("rivera", PASSWORD),
    ],
)
async def test_every_login_checks_one_password(
    anonymous, client, settings, engine, monkeypatch, username, password
):
    await _staff(settings, engine, "rivera")
    patient = await create_patient(client)
    username = patient["id"] if username == "patient" else username
    counting = CountingPasswordHash(security._passwords)
    monkeypatch.setattr(security, "_passwords", counting)
    response = await _token_response(anonymous, username, password)
    assert response.status_code == (200 if password == PASSWORD and username == "rivera" else 401)
    assert counting.verifications == 1


async def test_an_outdated_hash_is_upgraded_at_login(anonymous, settings, engine, monkeypatch):
    current = security._passwords
    weaker = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=256, parallelism=1),))
    monkeypatch.setattr(security, "_passwords", weaker)
    await _staff(settings, engine, "rivera")
    monkeypatch.setattr(security, "_passwords", current)

    async def stored_hash() -> str:
        async with engine.connect() as connection:
            value: str = await connection.scalar(
                text("SELECT password_hash FROM staff WHERE username = 'rivera'")
            )
        return value

    outdated = await stored_hash()
    assert current.verify_and_update(PASSWORD, outdated)[1] is not None, "not outdated"
    _assert_token_body(await _token_response(anonymous, "rivera", PASSWORD))
    upgraded = await stored_hash()
    assert upgraded != outdated
    assert current.verify_and_update(PASSWORD, upgraded) == (True, None)
    _assert_token_body(await _token_response(anonymous, "rivera", PASSWORD))


# --- tokens ------------------------------------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _session(anonymous: httpx.AsyncClient, settings, username: str) -> str:
    """The id of a new session of the staff member: a login's."""
    token = _assert_token_body(await _token_response(anonymous, username, PASSWORD))
    session: str = _claims(settings, token)["sid"]
    return session


# A validly signed staff token naming no possible staff id: 401, never a 500 (the id is an int4).
OUT_OF_RANGE_SUBJECTS = {
    "sub 2**31": "2147483648",
    "sub fifty nines": "9" * 50,
    "sub negative": "-1",
    "sub not a number": "root",
    "sub arabic digits": "\u0661\u0662",
    "sub empty": "",
}


def _forged(settings, staff_id: str, session: str, defect: str) -> str:
    """A token for an existing admin's session with one thing wrong with it (or nothing: "none")."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "sub": staff_id,
        "kind": "staff",
        "sid": session,
        "iat": now,
        "exp": now + timedelta(seconds=TTL),
        "jti": "f" * 32,
    }
    key = settings.secret_key.get_secret_value()
    if defect == "garbage":
        return "not-a-token"
    if defect == "wrong signature":
        return jwt.encode(claims, "another-signing-key-" + "y" * 32, algorithm="HS256")
    if defect == "expired":
        claims["iat"] = now - timedelta(seconds=2 * TTL)
        claims["exp"] = now - timedelta(seconds=TTL)
    elif defect == "wrong issuer":
        claims["iss"] = "someone-else"
    elif defect == "unknown kind":
        claims["kind"] = "robot"
    elif defect == "missing sub":
        del claims["sub"]
    elif defect.startswith("sub "):
        claims["sub"] = OUT_OF_RANGE_SUBJECTS[defect]
    elif defect == "missing session":
        del claims["sid"]
    elif defect == "another session":
        claims["sid"] = "00000000-0000-4000-8000-000000000000"
    elif defect == "malformed session":
        claims["sid"] = "not-a-uuid"
    elif defect == "alg none":
        unsigned = {
            k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in claims.items()
        }
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(unsigned)}."
    elif defect == "truncated signature":
        return jwt.encode(claims, key, algorithm="HS256")[:-4]
    else:
        assert defect == "none"
    return jwt.encode(claims, key, algorithm="HS256")


async def test_a_well_formed_token_is_accepted(anonymous, settings, engine):
    """The control for the bad tokens below: the same token, nothing wrong with it, works."""
    staff_id = await _staff(settings, engine, "root", role="admin")
    session = await _session(anonymous, settings, "root")
    response = await anonymous.get(
        "/api/patients/", headers=_bearer(_forged(settings, staff_id, session, "none"))
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "defect",
    [
        "garbage",
        "wrong signature",
        "truncated signature",
        "expired",
        "wrong issuer",
        "alg none",
        "unknown kind",
        "missing sub",
        *OUT_OF_RANGE_SUBJECTS,
        "missing session",
        "another session",
        "malformed session",
    ],
)
async def test_bad_tokens_are_refused(anonymous, settings, engine, defect):
    staff_id = await _staff(settings, engine, "root", role="admin")
    session = await _session(anonymous, settings, "root")
    token = _forged(settings, staff_id, session, defect)
    _assert_unauthenticated(await anonymous.get("/api/patients/", headers=_bearer(token)))


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic cm9vdDpzdGFmZi1wYXNzd29yZC0x"}],
)
async def test_missing_credentials_are_refused(anonymous, settings, engine, headers):
    await _staff(settings, engine, "root", role="admin")
    _assert_unauthenticated(await anonymous.get("/api/patients/", headers=headers))


async def test_a_deactivated_staff_member_is_locked_out(anonymous, settings, engine):
    await _staff(settings, engine, "rivera")
    token = _assert_token_body(await _token_response(anonymous, "rivera", PASSWORD))
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE staff SET is_active = false WHERE username = 'rivera'")
        )
    _assert_unauthenticated(await anonymous.get("/api/patients/", headers=_bearer(token)))
    refused = await _token_response(anonymous, "rivera", PASSWORD)
    _assert_unauthenticated(refused)
    unknown = await _token_response(anonymous, "nobody", PASSWORD)
    assert refused.json() == unknown.json()


async def test_a_deleted_staff_members_token_stops_working(anonymous, settings, engine):
    await _staff(settings, engine, "rivera")
    token = _assert_token_body(await _token_response(anonymous, "rivera", PASSWORD))
    assert (await anonymous.get("/api/patients/", headers=_bearer(token))).status_code == 200
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM staff WHERE username = 'rivera'"))
    _assert_unauthenticated(await anonymous.get("/api/patients/", headers=_bearer(token)))


async def test_a_deleted_patients_token_stops_working(anonymous, client):
    patient = await create_patient(client)
    response = await _token_response(anonymous, patient["id"], PATIENT_PASSWORD)
    token = _assert_token_body(response)
    own = f"/api/patients/{patient['id']}/"
    assert (await anonymous.get(own, headers=_bearer(token))).status_code == 200
    assert (await client.delete(own)).status_code == 204
    _assert_unauthenticated(await anonymous.get(own, headers=_bearer(token)))
    _assert_unauthenticated(
        await anonymous.patch(own, json={"first_name": "Ghost"}, headers=_bearer(token))
    )


# --- the OpenAPI document ----------------------------------------------------------------


async def test_openapi_declares_the_password_flow(anonymous):
    document = (await anonymous.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    password_schemes = {
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "oauth2"
        and scheme.get("flows", {}).get("password", {}).get("tokenUrl") == TOKEN_URL
    }
    assert password_schemes, schemes
    operations = [
        (method, path, operation)
        for path, item in document["paths"].items()
        if path.startswith("/api/patients/")
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(operations) >= 10
    for method, path, operation in operations:
        required = {name for requirement in operation.get("security", []) for name in requirement}
        assert required & password_schemes, (method, path)
    login = document["paths"][TOKEN_URL]["post"]
    assert not login.get("security")

"""The role matrix of API.md ("Authentication"), cell by cell, and what a patient may change."""

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import create_patient, patient_payload

FORBIDDEN = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"detail": "Not found."}
PASSWORD = "correct-horse"  # what factories.patient_payload creates patients with
MISSING_ID = "p_zz9zz9"  # well-formed, never created


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # "{id}" stands for the target patient's id
    writes: bool  # whether an allowed call changes the patients table
    body: Any = None


def _put_body() -> dict[str, Any]:
    body = patient_payload(first_name="Replaced", last_name="Wholesale")
    del body["password"]
    return body


ENDPOINTS = {
    "list": Endpoint("GET", "/api/patients/", writes=False),
    "create": Endpoint("POST", "/api/patients/", writes=True, body=patient_payload),
    "retrieve": Endpoint("GET", "/api/patients/{id}/", writes=False),
    "replace": Endpoint("PUT", "/api/patients/{id}/", writes=True, body=_put_body),
    "update": Endpoint("PATCH", "/api/patients/{id}/", writes=True, body={"first_name": "Renamed"}),
    "delete": Endpoint("DELETE", "/api/patients/{id}/", writes=True),
    "add_tag": Endpoint("POST", "/api/patients/{id}/add_tag/", writes=True, body={"tag": "new"}),
    "remove_tag": Endpoint(
        "POST", "/api/patients/{id}/remove_tag/", writes=True, body={"tag": "existing"}
    ),
    "add_session": Endpoint(
        "POST",
        "/api/patients/{id}/add_session/",
        writes=True,
        body={"date": "2024-05-01T14:30:00Z", "duration_minutes": 50},
    ),
    "update_wallet": Endpoint(
        "POST", "/api/patients/{id}/update_wallet/", writes=True, body={"amount": "25.50"}
    ),
    "audit": Endpoint("GET", "/api/audit/", writes=False),
}

# Actors: `anonymous`, `admin` and `therapist` act on an existing patient; `patient_own` is a
# patient acting on their own record, `patient_other` the same patient on another existing
# patient's record, `patient_missing` the same patient on an id that does not exist.
# For endpoints without an id (list, create, audit) the three patient rows are the same request.
MATRIX: list[tuple[str, str, int]] = [
    # actor             endpoint         status
    ("anonymous",       "list",          401),
    ("anonymous",       "create",        401),
    ("anonymous",       "retrieve",      401),
    ("anonymous",       "replace",       401),
    ("anonymous",       "update",        401),
    ("anonymous",       "delete",        401),
    ("anonymous",       "add_tag",       401),
    ("anonymous",       "remove_tag",    401),
    ("anonymous",       "add_session",   401),
    ("anonymous",       "update_wallet", 401),
    ("anonymous",       "audit",         401),
    ("admin",           "list",          200),
    ("admin",           "create",        201),
    ("admin",           "retrieve",      200),
    ("admin",           "replace",       200),
    ("admin",           "update",        200),
    ("admin",           "delete",        204),
    ("admin",           "add_tag",       200),
    ("admin",           "remove_tag",    200),
    ("admin",           "add_session",   200),
    ("admin",           "update_wallet", 200),
    ("admin",           "audit",         200),
    ("therapist",       "list",          200),
    ("therapist",       "create",        201),
    ("therapist",       "retrieve",      200),
    ("therapist",       "replace",       200),
    ("therapist",       "update",        200),
    ("therapist",       "delete",        403),
    ("therapist",       "add_tag",       200),
    ("therapist",       "remove_tag",    200),
    ("therapist",       "add_session",   200),
    ("therapist",       "update_wallet", 200),
    ("therapist",       "audit",         403),
    ("patient_own",     "list",          403),
    ("patient_own",     "create",        403),
    ("patient_own",     "retrieve",      200),
    ("patient_own",     "replace",       403),
    ("patient_own",     "update",        200),
    ("patient_own",     "delete",        403),
    ("patient_own",     "add_tag",       403),
    ("patient_own",     "remove_tag",    403),
    ("patient_own",     "add_session",   403),
    ("patient_own",     "update_wallet", 403),
    ("patient_own",     "audit",         403),
    ("patient_other",   "list",          403),
    ("patient_other",   "create",        403),
    ("patient_other",   "retrieve",      403),
    ("patient_other",   "replace",       403),
    ("patient_other",   "update",        403),
    ("patient_other",   "delete",        403),
    ("patient_other",   "add_tag",       403),
    ("patient_other",   "remove_tag",    403),
    ("patient_other",   "add_session",   403),
    ("patient_other",   "update_wallet", 403),
    ("patient_other",   "audit",         403),
    ("patient_missing", "list",          403),
    ("patient_missing", "create",        403),
    ("patient_missing", "retrieve",      404),
    ("patient_missing", "replace",       403),
    ("patient_missing", "update",        404),
    ("patient_missing", "delete",        403),
    ("patient_missing", "add_tag",       403),
    ("patient_missing", "remove_tag",    403),
    ("patient_missing", "add_session",   403),
    ("patient_missing", "update_wallet", 403),
    ("patient_missing", "audit",         403),
]  # fmt: skip


def test_the_matrix_has_every_cell():
    actors = ["anonymous", "admin", "therapist", "patient_own", "patient_other", "patient_missing"]
    cells = [(actor, endpoint) for actor, endpoint, _ in MATRIX]
    assert sorted(cells) == sorted((a, e) for a in actors for e in ENDPOINTS)


async def _snapshot(
    admin: httpx.AsyncClient, *patient_ids: str, deleted: str | None = None
) -> dict[str, Any]:
    """Everything a request could have changed: the number of patients and each one's record
    (None for the one the request `deleted`, which must be gone)."""
    listing = await admin.get("/api/patients/")
    assert listing.status_code == 200, listing.text
    records: dict[str, Any] = {"count": listing.json()["count"]}
    for patient_id in patient_ids:
        response = await admin.get(f"/api/patients/{patient_id}/")
        if patient_id == deleted:
            assert response.status_code == 404, response.text
            assert response.json() == NOT_FOUND
            records[patient_id] = None
        else:
            assert response.status_code == 200, response.text
            records[patient_id] = response.json()
    return records


async def _patient_client(
    app: FastAPI, login: Any, username: str, password: str = PASSWORD
) -> httpx.AsyncClient:
    token = await login(username, password)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.mark.parametrize(("actor", "endpoint_name", "expected"), MATRIX)
async def test_role_matrix(
    actor, endpoint_name, expected, app, client, staff_client, anonymous, login
):
    me = await create_patient(client, tags=["existing"])
    other = await create_patient(client, tags=["existing"])
    caller: httpx.AsyncClient
    if actor == "anonymous":
        caller, target = anonymous, other["id"]
    elif actor == "admin":
        caller, target = client, other["id"]
    elif actor == "therapist":
        caller, target = await staff_client("therapist"), other["id"]
    else:
        caller = await _patient_client(app, login, me["id"])
        target = {"patient_own": me["id"], "patient_other": other["id"]}.get(actor, MISSING_ID)

    endpoint = ENDPOINTS[endpoint_name]
    body = endpoint.body() if callable(endpoint.body) else endpoint.body
    before = await _snapshot(client, me["id"], other["id"])
    try:
        response = await caller.request(endpoint.method, endpoint.path.format(id=target), json=body)
    finally:
        if actor.startswith("patient"):
            await caller.aclose()
    deleted = target if endpoint_name == "delete" and expected == 204 else None
    after = await _snapshot(client, me["id"], other["id"], deleted=deleted)

    assert response.status_code == expected, response.text
    if expected == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
        detail = response.json()
        assert set(detail) == {"detail"}
        assert isinstance(detail["detail"], str)
        assert detail["detail"]
    elif expected == 403:
        assert response.json() == FORBIDDEN
    elif expected == 404:
        assert response.json() == NOT_FOUND

    if expected >= 400 or not endpoint.writes:
        assert after == before, "a refused request or a read changed the data"
    else:
        assert after != before, "an allowed write changed nothing"


async def test_refused_delete_leaves_the_patient(client, staff_client):
    patient = await create_patient(client)
    therapist = await staff_client("therapist")
    response = await therapist.delete(f"/api/patients/{patient['id']}/")
    assert response.status_code == 403
    assert response.json() == FORBIDDEN
    still_there = await client.get(f"/api/patients/{patient['id']}/")
    assert still_there.status_code == 200
    assert still_there.json() == patient


async def test_refused_update_wallet_leaves_the_balance(app, client, login):
    patient = await create_patient(client)
    funded = await client.post(
        f"/api/patients/{patient['id']}/update_wallet/", json={"amount": "10.00"}
    )
    assert funded.status_code == 200
    caller = await _patient_client(app, login, patient["id"])
    async with caller:
        response = await caller.post(
            f"/api/patients/{patient['id']}/update_wallet/", json={"amount": "500.00"}
        )
    assert response.status_code == 403
    assert response.json() == FORBIDDEN
    after = await client.get(f"/api/patients/{patient['id']}/")
    assert after.json()["wallet_balance"] == "10.00"


# --- what a patient may change in their own record ---------------------------------------

SELF_WRITABLE: list[tuple[str, Any]] = [
    ("first_name", "Janet"),
    ("last_name", "Smith"),
    ("phone_no", "+14159998877"),
    ("email", "janet@example.com"),
    ("address", "1 Market St, San Francisco"),
    ("about_note", "Prefers mornings."),
]

NOT_SELF_WRITABLE: list[tuple[str, Any]] = [
    ("allergies_and_medication", "None"),
    ("ssn", "123-45-6789"),
    ("sex", "M"),
    ("date_of_birth", "1980-01-01"),
    ("added_note", "Self-diagnosed."),
    ("tags", ["vip"]),
    ("wallet_balance", "1000.00"),
    ("sessions", []),
    ("id", "p_abc123"),
    ("profile_picture", "http://example.com/me.png"),
    ("created_at", "2020-01-01T00:00:00Z"),
    ("updated_at", "2020-01-01T00:00:00Z"),
]


@pytest.mark.parametrize(("field", "value"), SELF_WRITABLE)
async def test_a_patient_may_change_their_contact_fields(field, value, app, client, login):
    patient = await create_patient(client)
    caller = await _patient_client(app, login, patient["id"])
    async with caller:
        response = await caller.patch(f"/api/patients/{patient['id']}/", json={field: value})
    assert response.status_code == 200, response.text
    assert response.json()[field] == value
    stored = await client.get(f"/api/patients/{patient['id']}/")
    assert stored.json()[field] == value
    unchanged = {k: v for k, v in patient.items() if k not in (field, "updated_at")}
    assert {k: v for k, v in stored.json().items() if k in unchanged} == unchanged


async def test_a_patient_may_change_their_password(app, client, anonymous, login):
    patient = await create_patient(client)
    caller = await _patient_client(app, login, patient["id"])
    async with caller:
        response = await caller.patch(
            f"/api/patients/{patient['id']}/",
            json={"password": "battery-staple-9", "current_password": PASSWORD},
        )
    assert response.status_code == 200, response.text
    assert "password" not in response.json()
    assert "current_password" not in response.json()
    assert await login(patient["id"], "battery-staple-9")
    assert await login(patient["phone_no"], "battery-staple-9")
    old = await anonymous.post(
        "/api/auth/token/", data={"username": patient["id"], "password": PASSWORD}
    )
    assert old.status_code == 401


@pytest.mark.parametrize(
    ("current", "error"),
    [
        (None, "This field is required to change your own password."),
        ("not-the-password", "Your old password was entered incorrectly. Please enter it again."),
        ("", "This field may not be blank."),
    ],
    ids=["missing", "wrong", "blank"],
)
async def test_a_patients_own_password_change_needs_the_current_one(
    app, client, login, current, error
):
    """Defect 11: a stolen token alone does not take the account over."""
    patient = await create_patient(client)
    caller = await _patient_client(app, login, patient["id"])
    body: dict[str, Any] = {"password": "battery-staple-9"}
    if current is not None:
        body["current_password"] = current
    async with caller:
        response = await caller.patch(f"/api/patients/{patient['id']}/", json=body)
        assert response.status_code == 400, response.text
        assert response.json() == {"current_password": [error]}
        # Nothing changed, and the caller's session goes on.
        assert (await caller.get(f"/api/patients/{patient['id']}/")).status_code == 200
    assert await login(patient["id"], PASSWORD)


async def test_staff_set_a_patients_password_without_the_current_one(client, login):
    patient = await create_patient(client)
    response = await client.patch(
        f"/api/patients/{patient['id']}/", json={"password": "battery-staple-9"}
    )
    assert response.status_code == 200, response.text
    assert await login(patient["id"], "battery-staple-9")


@pytest.mark.parametrize(
    ("password", "what"),
    [
        ("Janet-Doe", "first name"),
        ("doe-janet", "first name"),
        ("janet@example.org", "e-mail address"),
        ("+14155550123", "phone number"),
        ("Oduya-123", "last name"),
    ],
)
async def test_a_password_like_the_patients_own_details_is_refused(client, password, what):
    patient = await create_patient(
        client,
        first_name="Janet",
        last_name="Oduya",
        email="janet@example.org",
        phone_no="+14155550123",
    )
    response = await client.patch(f"/api/patients/{patient['id']}/", json={"password": password})
    assert response.status_code == 400, response.text
    assert response.json() == {"password": [f"The password is too similar to the {what}."]}


async def test_a_new_patients_password_is_checked_against_the_new_details(client):
    body = patient_payload(first_name="Bartholomew", password="bartholomew1")
    response = await client.post("/api/patients/", json=body)
    assert response.status_code == 400, response.text
    assert response.json() == {"password": ["The password is too similar to the first name."]}


async def test_a_password_is_checked_against_the_details_sent_with_it(client):
    patient = await create_patient(client, first_name="Janet")
    body = {"first_name": "Cornelius", "password": "cornelius-9"}
    response = await client.patch(f"/api/patients/{patient['id']}/", json=body)
    assert response.status_code == 400, response.text
    assert response.json() == {"password": ["The password is too similar to the first name."]}


async def test_a_patient_may_change_several_contact_fields_at_once(app, client, login):
    patient = await create_patient(client)
    changes = dict(SELF_WRITABLE)
    caller = await _patient_client(app, login, patient["id"])
    async with caller:
        response = await caller.patch(f"/api/patients/{patient['id']}/", json=changes)
    assert response.status_code == 200, response.text
    assert {k: response.json()[k] for k in changes} == changes


@pytest.mark.parametrize(("field", "value"), NOT_SELF_WRITABLE)
async def test_a_patient_may_not_change_other_fields(field, value, app, client, login):
    patient = await create_patient(client)
    caller = await _patient_client(app, login, patient["id"])
    async with caller:
        alone = await caller.patch(f"/api/patients/{patient['id']}/", json={field: value})
        mixed = await caller.patch(
            f"/api/patients/{patient['id']}/", json={"first_name": "Janet", field: value}
        )
    for response in (alone, mixed):
        assert response.status_code == 403, response.text
        assert response.json() == FORBIDDEN
    stored = await client.get(f"/api/patients/{patient['id']}/")
    assert stored.status_code == 200
    assert stored.json() == patient

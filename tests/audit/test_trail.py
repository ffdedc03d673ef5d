"""The audit trail: one row per patient request and per login, no PHI, admin-only, append-only."""

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.service import AuditEntry
from tests.conftest import STAFF_PASSWORD
from tests.factories import create_patient, patient_payload

CLIENT_ADDRESS = "127.0.0.1"  # what httpx's ASGITransport reports
MISSING_ID = "p_zzzzzz"
PATIENT_PASSWORD = "correct-horse"  # tests.factories' default


async def last_id(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        value = await connection.scalar(text("SELECT coalesce(max(id), 0) FROM audit_events"))
    assert isinstance(value, int)
    return value


async def rows_after(engine: AsyncEngine, marker: int) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT * FROM audit_events WHERE id > :marker ORDER BY id"), {"marker": marker}
        )
        return [dict(row._mapping) for row in rows]


async def one_row_after(engine: AsyncEngine, marker: int) -> dict[str, Any]:
    rows = await rows_after(engine, marker)
    assert len(rows) == 1, rows
    return rows[0]


async def patient_json(engine: AsyncEngine, patient_id: str) -> str | None:
    async with engine.connect() as connection:
        value = await connection.scalar(
            text("SELECT row_to_json(p)::text FROM patients p WHERE id = :id"), {"id": patient_id}
        )
    return value if isinstance(value, str) else None


def expect_row(
    row: dict[str, Any],
    *,
    action: str,
    actor: str,
    actor_kind: str,
    patient_id: str | None,
    outcome: str,
    status_code: int,
) -> None:
    assert {
        "action": row["action"],
        "actor": row["actor"],
        "actor_kind": row["actor_kind"],
        "patient_id": row["patient_id"],
        "client_address": row["client_address"],
        "outcome": row["outcome"],
        "status_code": row["status_code"],
    } == {
        "action": action,
        "actor": actor,
        "actor_kind": actor_kind,
        "patient_id": patient_id,
        "client_address": CLIENT_ADDRESS,
        "outcome": outcome,
        "status_code": status_code,
    }
    assert row["at"] is not None


def detail(patient_id: str, action: str = "") -> str:
    return f"/api/patients/{patient_id}/" + (f"{action}/" if action else "")


REPLACE_BODY = {
    "first_name": "Janet",
    "last_name": "Doe",
    "allergies_and_medication": "",
    "date_of_birth": "1990-05-17",
    "sex": "F",
}

# (method, action path or "" for the detail URL, body, endpoint name, status)
PATIENT_ENDPOINTS = [
    ("GET", "", None, "get_patient", 200),
    ("PUT", "", REPLACE_BODY, "replace_patient", 200),
    ("PATCH", "", {"first_name": "Janet"}, "update_patient", 200),
    ("DELETE", "", None, "delete_patient", 204),
    ("POST", "add_tag", {"tag": "anxiety"}, "add_tag", 200),
    ("POST", "remove_tag", {"tag": "grief"}, "remove_tag", 200),
    ("POST", "add_session", {"date": "2024-05-01T14:30:00Z"}, "add_session", 200),
    ("POST", "update_wallet", {"amount": "25.50"}, "update_wallet", 200),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "action", "status"),
    PATIENT_ENDPOINTS,
    ids=[endpoint[3] for endpoint in PATIENT_ENDPOINTS],
)
async def test_each_patient_endpoint_writes_one_audit_row(
    client, engine, method, path, body, action, status
):
    patient = await create_patient(client, tags=["grief"])
    if method == "PUT":
        body = {**body, "phone_no": patient["phone_no"]}
    marker = await last_id(engine)

    response = await client.request(method, detail(patient["id"], path), json=body)
    assert response.status_code == status, response.text

    expect_row(
        await one_row_after(engine, marker),
        action=action,
        actor="admin",
        actor_kind="staff",
        patient_id=patient["id"],
        outcome="success",
        status_code=status,
    )


async def test_list_writes_one_audit_row_without_a_patient(client, engine):
    await create_patient(client)
    marker = await last_id(engine)
    response = await client.get("/api/patients/", params={"name": "jane"})
    assert response.status_code == 200
    expect_row(
        await one_row_after(engine, marker),
        action="list_patients",
        actor="admin",
        actor_kind="staff",
        patient_id=None,
        outcome="success",
        status_code=200,
    )


async def test_create_writes_one_audit_row_naming_the_new_patient(client, engine):
    marker = await last_id(engine)
    response = await client.post("/api/patients/", json=patient_payload())
    assert response.status_code == 201
    expect_row(
        await one_row_after(engine, marker),
        action="create_patient",
        actor="admin",
        actor_kind="staff",
        patient_id=response.json()["id"],
        outcome="success",
        status_code=201,
    )


async def test_create_with_a_chosen_id_names_it(client, engine):
    marker = await last_id(engine)
    response = await client.post("/api/patients/", json=patient_payload(id="p_chosen"))
    assert response.status_code == 201
    row = await one_row_after(engine, marker)
    assert row["patient_id"] == "p_chosen"


async def test_a_therapist_is_recorded_by_username(staff_client, client, engine):
    therapist = await staff_client("therapist", "dr-rivera")
    patient = await create_patient(client)
    marker = await last_id(engine)
    response = await therapist.get(detail(patient["id"]))
    assert response.status_code == 200
    expect_row(
        await one_row_after(engine, marker),
        action="get_patient",
        actor="dr-rivera",
        actor_kind="staff",
        patient_id=patient["id"],
        outcome="success",
        status_code=200,
    )


async def patient_session(
    app: FastAPI, login: Any, patient_id: str, password: str = PATIENT_PASSWORD
) -> httpx.AsyncClient:
    token = await login(patient_id, password)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_a_patient_is_recorded_by_their_id(app, client, login, engine):
    patient = await create_patient(client)
    other = await create_patient(client)
    async with await patient_session(app, login, patient["id"]) as own:
        marker = await last_id(engine)
        assert (await own.get(detail(patient["id"]))).status_code == 200
        expect_row(
            await one_row_after(engine, marker),
            action="get_patient",
            actor=patient["id"],
            actor_kind="patient",
            patient_id=patient["id"],
            outcome="success",
            status_code=200,
        )

        marker = await last_id(engine)
        response = await own.patch(detail(patient["id"]), json={"about_note": "Hi"})
        assert response.status_code == 200
        expect_row(
            await one_row_after(engine, marker),
            action="update_patient",
            actor=patient["id"],
            actor_kind="patient",
            patient_id=patient["id"],
            outcome="success",
            status_code=200,
        )

        marker = await last_id(engine)
        assert (await own.get(detail(other["id"]))).status_code == 403
        expect_row(
            await one_row_after(engine, marker),
            action="get_patient",
            actor=patient["id"],
            actor_kind="patient",
            patient_id=other["id"],
            outcome="denied",
            status_code=403,
        )

        marker = await last_id(engine)
        assert (await own.get("/api/patients/")).status_code == 403
        expect_row(
            await one_row_after(engine, marker),
            action="list_patients",
            actor=patient["id"],
            actor_kind="patient",
            patient_id=None,
            outcome="denied",
            status_code=403,
        )


async def test_a_refused_delete_is_recorded_as_denied_and_deletes_nothing(
    staff_client, client, engine
):
    therapist = await staff_client("therapist", "dr-denied")
    patient = await create_patient(client)
    marker = await last_id(engine)

    response = await therapist.delete(detail(patient["id"]))
    assert response.status_code == 403

    expect_row(
        await one_row_after(engine, marker),
        action="delete_patient",
        actor="dr-denied",
        actor_kind="staff",
        patient_id=patient["id"],
        outcome="denied",
        status_code=403,
    )
    assert await patient_json(engine, patient["id"]) is not None


@pytest.mark.parametrize(
    ("method", "path", "body", "action"),
    [
        ("GET", "", None, "get_patient"),
        ("PATCH", "", {"first_name": "Janet"}, "update_patient"),
        ("DELETE", "", None, "delete_patient"),
        ("POST", "add_tag", {"tag": "anxiety"}, "add_tag"),
        ("POST", "update_wallet", {"amount": "1.00"}, "update_wallet"),
    ],
)
async def test_an_unknown_patient_is_recorded_as_not_found(
    client, engine, method, path, body, action
):
    marker = await last_id(engine)
    response = await client.request(method, detail(MISSING_ID, path), json=body)
    assert response.status_code == 404
    expect_row(
        await one_row_after(engine, marker),
        action=action,
        actor="admin",
        actor_kind="staff",
        patient_id=MISSING_ID,
        outcome="not_found",
        status_code=404,
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "action"),
    [
        # A rule the repository checks: the balance may not go below zero.
        ("POST", "update_wallet", {"amount": "-5.00"}, "update_wallet"),
        # A rule the request schema checks.
        ("PATCH", "", {"phone_no": "not a phone"}, "update_patient"),
        ("POST", "add_tag", {"tag": ""}, "add_tag"),
        ("PUT", "", {"first_name": "Only"}, "replace_patient"),
    ],
)
async def test_an_invalid_request_is_recorded_and_changes_nothing(
    client, engine, method, path, body, action
):
    patient = await create_patient(client)
    before = await patient_json(engine, patient["id"])
    marker = await last_id(engine)

    response = await client.request(method, detail(patient["id"], path), json=body)
    assert response.status_code == 400, response.text

    expect_row(
        await one_row_after(engine, marker),
        action=action,
        actor="admin",
        actor_kind="staff",
        patient_id=patient["id"],
        outcome="invalid",
        status_code=400,
    )
    assert await patient_json(engine, patient["id"]) == before


async def test_malformed_json_is_recorded_as_invalid(client, engine):
    patient = await create_patient(client)
    marker = await last_id(engine)
    response = await client.patch(
        detail(patient["id"]),
        content=b'{"first_name": ',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")
    row = await one_row_after(engine, marker)
    assert (row["action"], row["outcome"], row["status_code"]) == ("update_patient", "invalid", 400)


async def test_a_uniqueness_conflict_is_recorded_as_invalid(client, engine):
    taken = await create_patient(client)
    marker = await last_id(engine)
    response = await client.post("/api/patients/", json=patient_payload(phone_no=taken["phone_no"]))
    assert response.status_code == 400
    row = await one_row_after(engine, marker)
    assert (row["action"], row["outcome"], row["status_code"]) == ("create_patient", "invalid", 400)
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM patients")) == 1


async def test_a_staff_login_is_recorded(staff_client, anonymous, engine):
    await staff_client("therapist", "dr-login")
    marker = await last_id(engine)

    good = await anonymous.post(
        "/api/auth/token/", data={"username": "dr-login", "password": STAFF_PASSWORD}
    )
    assert good.status_code == 200
    expect_row(
        await one_row_after(engine, marker),
        action="login",
        actor="dr-login",
        actor_kind="staff",
        patient_id=None,
        outcome="success",
        status_code=200,
    )

    marker = await last_id(engine)
    bad = await anonymous.post(
        "/api/auth/token/", data={"username": "dr-login", "password": "wrong-password-9"}
    )
    assert bad.status_code == 401
    expect_row(
        await one_row_after(engine, marker),
        action="login",
        actor="dr-login",
        actor_kind="staff",
        patient_id=None,
        outcome="denied",
        status_code=401,
    )


async def test_an_unknown_user_login_is_recorded_without_the_name_typed(anonymous, engine):
    marker = await last_id(engine)
    response = await anonymous.post(
        "/api/auth/token/", data={"username": "jane.doe@example.com", "password": "guess-1234"}
    )
    assert response.status_code == 401
    row = await one_row_after(engine, marker)
    expect_row(
        row,
        action="login",
        actor="unknown",
        actor_kind="anonymous",
        patient_id=None,
        outcome="denied",
        status_code=401,
    )


async def test_a_patient_login_is_recorded_by_patient_id(client, anonymous, engine):
    patient = await create_patient(client)
    for username, password, status, outcome in (
        (patient["phone_no"], PATIENT_PASSWORD, 200, "success"),
        (patient["id"], PATIENT_PASSWORD, 200, "success"),
        (patient["phone_no"], "wrong-horse-1", 401, "denied"),
    ):
        marker = await last_id(engine)
        response = await anonymous.post(
            "/api/auth/token/", data={"username": username, "password": password}
        )
        assert response.status_code == status
        expect_row(
            await one_row_after(engine, marker),
            action="login",
            actor=patient["id"],
            actor_kind="patient",
            patient_id=patient["id"],
            outcome=outcome,
            status_code=status,
        )


async def test_no_audit_row_contains_phi(app, client, anonymous, login, engine):
    phi = {
        "ssn": "078-05-1120",
        "phone_no": "+14155550199",
        "email": "zebulon.quaxworth@example.org",
        "first_name": "Zebulon",
        "last_name": "Quaxworth",
        "allergies_and_medication": "Allergic to Xylocainex; takes Fluvoxamoral",
        "address": "17 Wisteria Lane, Springfield",
        "added_note": "Confidential intake remark",
        "about_note": "Enjoys birdwatching",
        "password": "secret-horse-77",
    }
    patient = await create_patient(client, **phi)
    pid = patient["id"]
    replacement = {k: v for k, v in phi.items() if k != "password"}
    replacement |= {"password": "new-secret-88", "date_of_birth": "1990-05-17", "sex": "M"}
    list_filters = {"name": "Zebulon Quaxworth", "phone": "4155550199", "email": phi["email"]}
    requests: list[tuple[httpx.AsyncClient, str, str, Any, int]] = [
        (client, "GET", detail(pid), None, 200),
        (client, "GET", "/api/patients/?" + urlencode(list_filters), None, 200),
        (client, "PATCH", detail(pid), {"ssn": "219-09-9999", "last_name": "Quaxworthy"}, 200),
        (client, "PUT", detail(pid), replacement, 200),
        (client, "POST", detail(pid, "add_tag"), {"tag": "insomnia-zq"}, 200),
        (
            client,
            "POST",
            detail(pid, "add_session"),
            {"date": "2024-05-01T14:30:00Z", "therapist": "Dr. Hushwhisper", "notes": "Panic Q"},
            200,
        ),
        (client, "POST", detail(pid, "update_wallet"), {"amount": "-99.00"}, 400),
        (client, "PATCH", detail(pid), {"phone_no": "+1415555019", "email": "bad@@example"}, 400),
        (client, "POST", "/api/patients/", patient_payload(phone_no=phi["phone_no"]), 400),
    ]
    for caller, method, url, body, status in requests:
        response = await caller.request(method, url, json=body)
        assert response.status_code == status, (method, url, response.text)
    # Logins, good and bad, by phone number and with PHI typed as the user name.
    for username, password, status in (
        (phi["phone_no"], "new-secret-88", 200),
        (phi["phone_no"], "wrong-secret-99", 401),
        (phi["email"], "new-secret-88", 200),  # a patient logs in by e-mail too
        ("admin", "admin-typo", 401),
    ):
        response = await anonymous.post(
            "/api/auth/token/", data={"username": username, "password": password}
        )
        assert response.status_code == status
    async with await patient_session(app, login, pid, "new-secret-88") as own:
        changed = await own.patch(detail(pid), json={"address": "99 Hidden Road"})
        assert changed.status_code == 200
        refused = await own.patch(detail(pid), json={"ssn": "111-22-3333"})
        assert refused.status_code == 403

    async with engine.connect() as connection:
        rows = (
            await connection.scalars(text("SELECT row_to_json(a)::text FROM audit_events a"))
        ).all()
    # Every request above left its row (the fixtures' own staff and logins aside), so the
    # search below reads all of them.
    made = sorted(
        (event["action"], event["outcome"])
        for event in map(json.loads, rows)
        if event["action"] not in ("cli_create_staff", "login") or event["outcome"] == "denied"
    )
    assert made == [
        ("add_session", "success"),
        ("add_tag", "success"),
        ("create_patient", "invalid"),
        ("create_patient", "success"),
        ("get_patient", "success"),
        ("list_patients", "success"),
        ("login", "denied"),
        ("login", "denied"),
        ("replace_patient", "success"),
        ("update_patient", "denied"),
        ("update_patient", "invalid"),
        ("update_patient", "success"),
        ("update_patient", "success"),
        ("update_wallet", "invalid"),
    ]
    searched = [
        *phi.values(),
        phi["phone_no"].removeprefix("+"),
        "4155550199",
        "0780511",
        "219-09-9999",
        "new-secret-88",
        "wrong-secret-99",
        "admin-typo",
        "Quaxworthy",
        "insomnia-zq",
        "Hushwhisper",
        "Panic Q",
        "99 Hidden Road",
        "111-22-3333",
        "bad@@example",
        STAFF_PASSWORD,
    ]
    for row in rows:
        for value in searched:
            assert value.lower() not in row.lower(), (value, row)


async def get_audit(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    return await client.get("/api/audit/", params=params)


async def test_the_audit_list_is_for_admins_only(staff_client, client, app, login, anonymous):
    therapist = await staff_client("therapist")
    refused = await get_audit(therapist)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "You do not have permission to perform this action."}

    patient = await create_patient(client)
    async with await patient_session(app, login, patient["id"]) as own:
        assert (await get_audit(own)).status_code == 403

    unauthenticated = await get_audit(anonymous)
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["WWW-Authenticate"] == "Bearer"

    allowed = await get_audit(client)
    assert allowed.status_code == 200
    # The therapist's refused look is itself in the trail.
    denied = [e for e in allowed.json()["results"] if e["action"] == "list_audit_events"]
    assert [(e["outcome"], e["status_code"]) for e in denied] == [
        ("denied", 403),
        ("denied", 403),
    ]


async def test_the_audit_list_pages_newest_first(client):
    patient = await create_patient(client)
    for _ in range(25):
        assert (await client.get(detail(patient["id"]))).status_code == 200

    first = await get_audit(client, action="get_patient", page_size=10)
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 25
    assert body["previous"] is None
    assert body["next"] == "http://testserver/api/audit/?action=get_patient&page_size=10&page=2"
    assert len(body["results"]) == 10
    event = body["results"][0]
    assert set(event) == {
        "id",
        "at",
        "actor",
        "actor_kind",
        "action",
        "patient_id",
        "client_address",
        "outcome",
        "status_code",
    }
    assert event["patient_id"] == patient["id"]
    assert event["at"].endswith(("Z", "+00:00"))

    seen = list(body["results"])
    for page in (2, 3):
        response = await get_audit(client, action="get_patient", page_size=10, page=page)
        assert response.status_code == 200
        seen += response.json()["results"]
    assert response.json()["next"] is None
    assert response.json()["previous"] is not None
    assert len(seen) == 25
    ids = [e["id"] for e in seen]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 25
    ats = [e["at"] for e in seen]
    assert ats == sorted(ats, reverse=True)

    past_the_end = await get_audit(client, action="get_patient", page_size=10, page=4)
    assert past_the_end.status_code == 404
    assert past_the_end.json() == {"detail": "Invalid page."}


async def test_the_audit_list_default_page_size_and_newest_event_first(client):
    patient = await create_patient(client)
    for _ in range(21):
        await client.post(detail(patient["id"], "update_wallet"), json={"amount": "1.00"})
    await client.get(detail(patient["id"]))
    body = (await get_audit(client)).json()
    # The admin's creation (createstaff) and login, the create, 21 wallet changes and one read.
    assert body["count"] == 25
    assert len(body["results"]) == 20
    assert body["results"][0]["action"] == "get_patient"
    assert body["results"][-1]["action"] == "update_wallet"
    big = (await get_audit(client, page_size=1000)).json()
    assert len(big["results"]) == 26  # the list request above is now in the trail too
    assert [event["action"] for event in big["results"][-2:]] == ["login", "cli_create_staff"]


async def test_the_audit_list_filters_exactly(staff_client, client):
    therapist = await staff_client("therapist", "dr-filter")
    first = await create_patient(client)
    second = await create_patient(client)
    await therapist.get(detail(first["id"]))
    await therapist.get(detail(second["id"]))
    await client.get(detail(first["id"]))
    await client.post(detail(first["id"], "add_tag"), json={"tag": "sleep"})

    async def actions(**params: Any) -> list[tuple[str, str, str | None]]:
        response = await get_audit(client, **params)
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == len(body["results"])
        return [(e["action"], e["actor"], e["patient_id"]) for e in body["results"]]

    assert await actions(patient=first["id"]) == [
        ("add_tag", "admin", first["id"]),
        ("get_patient", "admin", first["id"]),
        ("get_patient", "dr-filter", first["id"]),
        ("create_patient", "admin", first["id"]),
    ]
    assert await actions(actor="dr-filter") == [
        ("get_patient", "dr-filter", second["id"]),
        ("get_patient", "dr-filter", first["id"]),
        ("login", "dr-filter", None),
    ]
    assert await actions(action="get_patient", actor="admin") == [
        ("get_patient", "admin", first["id"]),
    ]
    assert await actions(action="add_tag", patient=second["id"]) == []
    # Exact, not substring or case-insensitive.
    assert await actions(action="get_pat") == []
    assert await actions(action="GET_PATIENT") == []
    assert await actions(actor="dr-") == []
    assert await actions(patient=first["id"][:-1]) == []


async def test_the_audit_table_is_append_only(client, engine):
    await create_patient(client)
    before = await rows_after(engine, 0)
    assert before

    for statement in (
        "UPDATE audit_events SET outcome = 'success', actor = 'someone-else'",
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE action = 'create_patient'",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(text(statement))

    assert await rows_after(engine, 0) == before


@pytest.fixture
def failing_audit_insert(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The next audit event appended is one the database refuses (action longer than 64)."""
    calls: list[str] = []
    original = AuditEntry.event

    def event(self: AuditEntry, status_code: int) -> dict[str, Any]:
        values = original(self, status_code)
        calls.append(values["action"])
        if len(calls) == 1:
            values["action"] = "x" * 500
        return values

    monkeypatch.setattr(AuditEntry, "event", event)
    return calls


@pytest.fixture
async def tolerant_client(
    app: FastAPI, client: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """The admin client, but a server error is a response rather than an exception."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://testserver",
        headers=dict(client.headers),
    ) as tolerant:
        yield tolerant


async def test_a_create_whose_audit_row_fails_is_rolled_back(
    client, tolerant_client, engine, request
):
    marker = await last_id(engine)
    payload = patient_payload()
    calls = request.getfixturevalue("failing_audit_insert")

    response = await tolerant_client.post("/api/patients/", json=payload)

    assert calls[0] == "create_patient"
    assert response.status_code == 500
    assert response.json() == {"detail": "A server error occurred."}
    async with engine.connect() as connection:
        count = await connection.scalar(
            text("SELECT count(*) FROM patients WHERE phone_no = :p"), {"p": payload["phone_no"]}
        )
    assert count == 0
    # The failure itself is audited, apart from the work that was rolled back.
    events = [row for row in await rows_after(engine, marker) if row["action"] == "create_patient"]
    assert [(row["outcome"], row["status_code"]) for row in events] == [("error", 500)]


@pytest.mark.parametrize(
    ("method", "path", "body", "action"),
    [
        ("PATCH", "", {"first_name": "Changed"}, "update_patient"),
        ("POST", "update_wallet", {"amount": "10.00"}, "update_wallet"),
        ("POST", "add_tag", {"tag": "lost"}, "add_tag"),
        ("DELETE", "", None, "delete_patient"),
        # A read is not served either when its audit row cannot be written.
        ("GET", "", None, "get_patient"),
    ],
)
async def test_a_write_whose_audit_row_fails_is_rolled_back(
    client, tolerant_client, engine, request, method, path, body, action
):
    patient = await create_patient(client)
    before = await patient_json(engine, patient["id"])
    assert before is not None
    calls = request.getfixturevalue("failing_audit_insert")

    response = await tolerant_client.request(method, detail(patient["id"], path), json=body)

    assert calls[0] == action
    assert response.status_code == 500
    assert response.json() == {"detail": "A server error occurred."}
    assert await patient_json(engine, patient["id"]) == before

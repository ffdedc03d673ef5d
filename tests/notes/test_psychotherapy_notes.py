"""Psychotherapy notes (45 CFR 164.501/164.508): their author alone reads them; admins, other
therapists and patients are refused, audited; a disclosure needs an unexpired authorization
naming the caller."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.admin import mount_admin
from tests.notes.conftest import Cast

URL = "/api/psychotherapy-notes/"
ROLES = ("admin", "author", "other", "patient", "stranger")
SECRET = "Transference themes around the father."


async def scalar(engine, sql: str, **params):
    async with engine.connect() as connection:
        return await connection.scalar(text(sql), params)


async def write(cast: Cast, **overrides: Any) -> dict[str, Any]:
    body = {"patient": cast.patient_id, "appointment": cast.appointment["id"], "text": SECRET}
    response = await cast.author.post(URL, json={**body, **overrides})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def later(**delta: int) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def authorize(cast: Cast, note: dict[str, Any], recipient: str, **overrides: Any):
    body = {"recipient": recipient, "purpose": "Consultation.", "expires_at": later(days=30)}
    return await cast.author.post(f"{URL}{note['id']}/authorizations/", json={**body, **overrides})


async def test_author_writes_and_reads(cast: Cast, engine):
    note = await write(cast)
    assert note["author"] == cast.author_id
    assert note["text"] == SECRET
    assert note["patient"] == cast.patient_id
    assert note["appointment"] == cast.appointment["id"]
    read = await cast.author.get(f"{URL}{note['id']}/")
    assert read.status_code == 200
    assert read.json() == note
    listed = (await cast.author.get(URL)).json()
    assert [item["id"] for item in listed["results"]] == [note["id"]]
    assert (await cast.author.get(URL, params={"patient": cast.patient_id})).json()["count"] == 1
    stored = await scalar(
        engine, "SELECT text FROM psychotherapy_notes WHERE id = :i", i=note["id"]
    )
    assert "father" not in stored
    # Never in the patient record.
    record = await cast.admin.get(f"/api/patients/{cast.patient_id}/")
    assert "father" not in record.text
    without = await write(cast, appointment=None)
    assert without["appointment"] is None


async def test_writing_is_checked(cast: Cast):
    body = {"patient": cast.patient_id, "text": SECRET}
    for role in ("admin", "patient", "stranger"):
        assert (await cast.by(role).post(URL, json=body)).status_code == 403, role
    unknown = await cast.author.post(URL, json={**body, "patient": "p_zzzzzz"})
    assert unknown.json() == {"patient": ["No patient has this id."]}
    not_theirs = await cast.other.post(URL, json={**body, "appointment": cast.appointment["id"]})
    assert not_theirs.status_code == 400
    assert "appointment" in not_theirs.json()
    empty = await cast.author.post(URL, json={**body, "text": ""})
    assert empty.status_code == 400
    assert "text" in empty.json()


READ = {"admin": 403, "author": 200, "other": 403, "patient": 403, "stranger": 403}
LIST = {"admin": 403, "author": 200, "other": 200, "patient": 403, "stranger": 403}
AUTHORIZE = {"admin": 403, "author": 201, "other": 403, "patient": 403, "stranger": 403}
REVOCATION = ("revoked_at", "revoked_by")
DISCLOSE_WITHOUT = {"admin": 403, "author": 403, "other": 403, "patient": 403, "stranger": 403}
DENIED = {"detail": "You do not have permission to perform this action."}


def page(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"count": len(results), "next": None, "previous": None, "results": results}


@pytest.mark.parametrize("role", ROLES)
async def test_roles(cast: Cast, role: str, engine):
    note = await write(cast)
    caller = cast.by(role)
    read = await caller.get(f"{URL}{note['id']}/")
    assert read.status_code == READ[role]
    assert read.json() == (note if role == "author" else DENIED)
    # The author's list holds the note, text and all; another therapist's is empty, even
    # filtered by the patient; everyone else is refused.
    seen = {"author": page([note]), "other": page([])}
    for params in ({}, {"patient": cast.patient_id}):
        listed = await caller.get(URL, params=params)
        assert listed.status_code == LIST[role]
        assert listed.json() == seen.get(role, DENIED), params
    disclosed = await caller.get(f"{URL}{note['id']}/disclosure/")
    assert disclosed.status_code == DISCLOSE_WITHOUT[role]
    body = {"recipient": cast.other_name, "purpose": "p", "expires_at": later(days=1)}
    granted = await caller.post(f"{URL}{note['id']}/authorizations/", json=body)
    assert granted.status_code == AUTHORIZE[role]
    # Every read, refused or not, is audited on the patient.
    outcome = "success" if READ[role] == 200 else "denied"
    found = await scalar(
        engine,
        "SELECT count(*) FROM audit_events WHERE patient_id = :p "
        "AND action = 'get_psychotherapy_note' AND outcome = :o",
        p=cast.patient_id,
        o=outcome,
    )
    assert found == 1


async def test_disclosure_needs_a_valid_authorization_naming_the_caller(cast: Cast, engine):
    note = await write(cast)
    other_note = await write(cast)
    granted = await authorize(cast, note, cast.other_name)
    assert granted.status_code == 201, granted.text
    authorization = granted.json()
    assert authorization["recipient"] == cast.other_name
    assert authorization["granted_by"] == cast.author_id
    assert authorization["note"] == note["id"]
    assert authorization["purpose"] == "Consultation."
    url = f"{URL}{note['id']}/disclosure/"
    query = {"authorization": authorization["id"]}
    # The recipient reads it.
    disclosed = await cast.other.get(url, params=query)
    assert disclosed.status_code == 200, disclosed.text
    assert disclosed.json()["note"]["text"] == SECRET
    assert disclosed.json()["authorization"]["id"] == authorization["id"]
    # Nobody else with it: not an admin, not the author, not a patient.
    for role in ("admin", "author", "patient", "stranger"):
        assert (await cast.by(role).get(url, params=query)).status_code == 403, role
    # Not for another note.
    other_url = f"{URL}{other_note['id']}/disclosure/"
    assert (await cast.other.get(other_url, params=query)).status_code == 403
    # An authorization for an admin lets that admin read it.
    for_admin = (await authorize(cast, note, "admin")).json()
    admin_read = await cast.admin.get(url, params={"authorization": for_admin["id"]})
    assert admin_read.status_code == 200
    # Not once expired.
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE psychotherapy_note_authorizations SET expires_at = now() - interval '1 s' "
                "WHERE id = :i"
            ),
            {"i": authorization["id"]},
        )
    assert (await cast.other.get(url, params=query)).status_code == 403
    # Still never the direct read.
    assert (await cast.other.get(f"{URL}{note['id']}/")).status_code == 403
    assert (await cast.other.get(f"{URL}999999999/disclosure/", params=query)).status_code == 403
    denied = await scalar(
        engine,
        "SELECT count(*) FROM audit_events WHERE patient_id = :p "
        "AND action = 'disclose_psychotherapy_note' AND outcome = 'denied'",
        p=cast.patient_id,
    )
    assert denied >= 6


async def test_authorizations_are_checked(cast: Cast, engine):
    note = await write(cast)
    unknown = await authorize(cast, note, "nobody-such")
    assert unknown.json() == {"recipient": ["No active staff member has this username."]}
    to_self = await authorize(cast, note, cast.author_name)
    assert to_self.status_code == 400
    assert "recipient" in to_self.json()
    past = await authorize(cast, note, cast.other_name, expires_at=later(days=-1))
    assert past.json() == {"expires_at": ["The expiry must be in the future."]}
    naive = await authorize(cast, note, cast.other_name, expires_at="2030-01-01T00:00:00")
    assert naive.status_code == 400
    assert "expires_at" in naive.json()
    missing = await cast.author.post(f"{URL}{note['id']}/authorizations/", json={})
    assert set(missing.json()) == {"recipient", "purpose", "expires_at"}
    unknown_note = await cast.author.post(
        f"{URL}999999999/authorizations/",
        json={"recipient": cast.other_name, "purpose": "p", "expires_at": later(days=1)},
    )
    assert unknown_note.status_code == 403
    granted = await authorize(cast, note, cast.other_name)
    stored = await scalar(
        engine,
        "SELECT purpose FROM psychotherapy_note_authorizations WHERE id = :i",
        i=granted.json()["id"],
    )
    assert "Consultation" not in stored


@pytest.mark.parametrize("role", ROLES)
async def test_a_refusal_does_not_tell_whether_the_note_exists(cast: Cast, role: str):
    note = await write(cast)
    caller = cast.by(role)
    body = {"recipient": cast.other_name, "purpose": "p", "expires_at": later(days=1)}
    for suffix in ("", "disclosure/?authorization=1", "authorizations/"):
        unknown = await caller.get(f"{URL}999999999/{suffix}")
        assert unknown.status_code == 403, (role, suffix)
        if role != "author":
            known = await caller.get(f"{URL}{note['id']}/{suffix}")
            assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    unknown = await caller.post(f"{URL}999999999/authorizations/", json=body)
    assert unknown.status_code == 403
    if role != "author":
        known = await caller.post(f"{URL}{note['id']}/authorizations/", json=body)
        assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())


async def test_never_in_the_admin(settings, cast: Cast):
    note = await write(cast)
    admin = mount_admin(FastAPI(), settings)
    shown = {getattr(getattr(view, "model", None), "__tablename__", None) for view in admin.views}
    assert not shown & {"psychotherapy_notes", "psychotherapy_note_authorizations"}
    page = await cast.admin.get("/admin/")
    assert note["text"] not in page.text


async def test_the_author_lists_and_revokes_authorizations(cast: Cast, engine):
    note = await write(cast)
    first = (await authorize(cast, note, cast.other_name)).json()
    second = (await authorize(cast, note, "admin", purpose="Audit.")).json()
    url = f"{URL}{note['id']}/authorizations/"
    listed = await cast.author.get(url)
    assert listed.status_code == 200, listed.text
    assert listed.json()["count"] == 2
    assert [item["id"] for item in listed.json()["results"]] == [second["id"], first["id"]]
    assert listed.json()["results"][1] == first
    assert {first[key] for key in REVOCATION} == {None}
    # Another note's authorizations are not in this note's list, nor revoked through it.
    other_note = await write(cast)
    assert (await cast.author.get(f"{URL}{other_note['id']}/authorizations/")).json()["count"] == 0
    through_other = await cast.author.post(
        f"{URL}{other_note['id']}/authorizations/{first['id']}/revoke/"
    )
    assert through_other.status_code == 404
    unknown = await cast.author.post(f"{url}999999999/revoke/")
    assert unknown.status_code == 404

    query = {"authorization": first["id"]}
    disclosure = f"{URL}{note['id']}/disclosure/"
    assert (await cast.other.get(disclosure, params=query)).status_code == 200
    revoked = await cast.author.post(f"{url}{first['id']}/revoke/")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_by"] == cast.author_id
    assert revoked.json()["revoked_at"]
    assert revoked.json() == {**first, **{key: revoked.json()[key] for key in REVOCATION}}
    # A revoked authorization discloses nothing; the other one still does.
    assert (await cast.other.get(disclosure, params=query)).status_code == 403
    admin_read = await cast.admin.get(disclosure, params={"authorization": second["id"]})
    assert admin_read.status_code == 200
    # Revoking again is a 400 that leaves the first revocation as it was.
    again = await cast.author.post(f"{url}{first['id']}/revoke/")
    assert again.status_code == 400
    assert again.json() == {"non_field_errors": ["The authorization is already revoked."]}
    listed = (await cast.author.get(url)).json()["results"]
    assert listed[1]["revoked_at"] == revoked.json()["revoked_at"]

    # Nobody but the author lists or revokes: 403, audited on the note's patient.
    for role in ("admin", "other", "patient", "stranger"):
        assert (await cast.by(role).get(url)).status_code == 403, role
        refused = await cast.by(role).post(f"{url}{second['id']}/revoke/")
        assert refused.status_code == 403, role
    for action, outcome, expected in (
        ("list_psychotherapy_note_authorizations", "success", 3),
        ("list_psychotherapy_note_authorizations", "denied", 4),
        ("revoke_psychotherapy_note_authorization", "success", 1),
        ("revoke_psychotherapy_note_authorization", "denied", 4),
        ("revoke_psychotherapy_note_authorization", "not_found", 2),
        ("revoke_psychotherapy_note_authorization", "invalid", 1),
    ):
        found = await scalar(
            engine,
            "SELECT count(*) FROM audit_events WHERE patient_id = :p AND action = :a "
            "AND outcome = :o",
            p=cast.patient_id,
            a=action,
            o=outcome,
        )
        assert found == expected, (action, outcome, found)


async def test_the_token_is_checked_before_the_query_string(anonymous):
    refused = await anonymous.get(f"{URL}1/disclosure/", params={"authorization": "x"})
    assert refused.status_code == 401

"""The audit trail of every clinical-note action, allowed and refused: one event, under the
note's patient, naming the caller, the endpoint and the outcome; never a word of the note."""

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.notes.conftest import SOAP, Cast, signed_note, write_note

PSYCHOTHERAPY = "/api/psychotherapy-notes/"
SECRET = "Transference themes around the father."
REASON = "Disclosure could endanger the sister."
PURPOSE = "Consultation about the custody hearing."
ADDENDUM = "Corrected: slept six hours."
PHI = (*SOAP.values(), SECRET, REASON, PURPOSE, ADDENDUM)

Request = Callable[[Cast], Awaitable[httpx.Response]]


def note_url(cast: Cast, note: dict[str, Any], action: str = "") -> str:
    return f"{cast.notes}{note['id']}/{action}"


async def psychotherapy_note(cast: Cast) -> dict[str, Any]:
    body = {"patient": cast.patient_id, "text": SECRET}
    response = await cast.author.post(PSYCHOTHERAPY, json=body)
    assert response.status_code == 201, response.text
    note: dict[str, Any] = response.json()
    return note


async def authorization(cast: Cast, note: dict[str, Any]) -> dict[str, Any]:
    expires_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"recipient": cast.other_name, "purpose": PURPOSE, "expires_at": expires_at}
    response = await cast.author.post(f"{PSYCHOTHERAPY}{note['id']}/authorizations/", json=body)
    assert response.status_code == 201, response.text
    granted: dict[str, Any] = response.json()
    return granted


# Each case: who asks, the request (after its own setup), and the event it leaves.


async def _create(cast: Cast, role: str) -> httpx.Response:
    return await cast.by(role).post(cast.notes, json={"template": "SOAP", "fields": SOAP})


async def _read_signed(cast: Cast, role: str) -> httpx.Response:
    return await cast.by(role).get(note_url(cast, await signed_note(cast)))


async def _read_draft(cast: Cast, role: str) -> httpx.Response:
    return await cast.by(role).get(note_url(cast, await write_note(cast)))


async def _list(cast: Cast, role: str) -> httpx.Response:
    await signed_note(cast)
    return await cast.by(role).get(cast.notes)


async def _patch_draft(cast: Cast, role: str) -> httpx.Response:
    note = await write_note(cast)
    return await cast.by(role).patch(note_url(cast, note), json={"fields": SOAP})


async def _patch_signed(cast: Cast, role: str) -> httpx.Response:
    note = await signed_note(cast)
    return await cast.by(role).patch(note_url(cast, note), json={"fields": SOAP})


async def _sign(cast: Cast, role: str) -> httpx.Response:
    return await cast.by(role).post(note_url(cast, await write_note(cast), "sign/"))


async def _sign_again(cast: Cast, role: str) -> httpx.Response:
    return await cast.by(role).post(note_url(cast, await signed_note(cast), "sign/"))


async def _sign_stale(cast: Cast, role: str) -> httpx.Response:
    note = await write_note(cast)
    return await cast.by(role).post(note_url(cast, note, "sign/"), headers={"If-Match": '"1"'})


async def _addendum(cast: Cast, role: str) -> httpx.Response:
    note = await signed_note(cast)
    return await cast.by(role).post(note_url(cast, note, "addenda/"), json={"text": ADDENDUM})


async def _cosign(cast: Cast, role: str) -> httpx.Response:
    return await cast.by(role).post(note_url(cast, await signed_note(cast), "cosign/"))


async def _withhold(cast: Cast, role: str) -> httpx.Response:
    note = await signed_note(cast)
    body = {"withheld": True, "withheld_reason": REASON}
    return await cast.by(role).post(note_url(cast, note, "withhold/"), json=body)


async def _psychotherapy_write(cast: Cast, role: str) -> httpx.Response:
    return await cast.by(role).post(
        PSYCHOTHERAPY, json={"patient": cast.patient_id, "text": SECRET}
    )


async def _psychotherapy_read(cast: Cast, role: str) -> httpx.Response:
    note = await psychotherapy_note(cast)
    return await cast.by(role).get(f"{PSYCHOTHERAPY}{note['id']}/")


async def _psychotherapy_authorize(cast: Cast, role: str) -> httpx.Response:
    note = await psychotherapy_note(cast)
    expires_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"recipient": cast.other_name, "purpose": PURPOSE, "expires_at": expires_at}
    return await cast.by(role).post(f"{PSYCHOTHERAPY}{note['id']}/authorizations/", json=body)


async def _psychotherapy_authorizations(cast: Cast, role: str) -> httpx.Response:
    note = await psychotherapy_note(cast)
    await authorization(cast, note)
    return await cast.by(role).get(f"{PSYCHOTHERAPY}{note['id']}/authorizations/")


async def _psychotherapy_revoke(cast: Cast, role: str) -> httpx.Response:
    note = await psychotherapy_note(cast)
    granted = await authorization(cast, note)
    path = f"{PSYCHOTHERAPY}{note['id']}/authorizations/{granted['id']}/revoke/"
    return await cast.by(role).post(path)


async def _psychotherapy_disclose(cast: Cast, role: str) -> httpx.Response:
    note = await psychotherapy_note(cast)
    granted = await authorization(cast, note)
    path = f"{PSYCHOTHERAPY}{note['id']}/disclosure/"
    return await cast.by(role).get(path, params={"authorization": granted["id"]})


CASES: list[tuple[str, Callable[[Cast, str], Awaitable[httpx.Response]], str, int]] = [
    ("author", _create, "create_progress_note", 201),
    ("admin", _create, "create_progress_note", 403),
    ("other", _create, "create_progress_note", 403),
    ("patient", _create, "create_progress_note", 403),
    ("patient", _sign, "sign_progress_note", 403),
    ("stranger", _withhold, "withhold_progress_note", 403),
    ("patient", _cosign, "cosign_progress_note", 403),
    ("patient", _read_signed, "get_progress_note", 200),
    ("stranger", _read_signed, "get_progress_note", 403),
    ("other", _read_draft, "get_progress_note", 404),
    ("patient", _read_draft, "get_progress_note", 404),
    ("patient", _list, "list_progress_notes", 200),
    ("stranger", _list, "list_progress_notes", 403),
    ("author", _patch_draft, "update_progress_note", 200),
    ("admin", _patch_draft, "update_progress_note", 403),
    ("author", _patch_signed, "update_progress_note", 400),
    ("author", _sign, "sign_progress_note", 200),
    ("admin", _sign, "sign_progress_note", 403),
    ("author", _sign_again, "sign_progress_note", 400),
    ("author", _sign_stale, "sign_progress_note", 412),
    ("author", _addendum, "add_progress_note_addendum", 201),
    ("other", _addendum, "add_progress_note_addendum", 403),
    ("other", _cosign, "cosign_progress_note", 200),
    ("author", _cosign, "cosign_progress_note", 400),
    ("admin", _withhold, "withhold_progress_note", 200),
    ("other", _withhold, "withhold_progress_note", 403),
    ("author", _psychotherapy_write, "create_psychotherapy_note", 201),
    ("admin", _psychotherapy_write, "create_psychotherapy_note", 403),
    ("author", _psychotherapy_read, "get_psychotherapy_note", 200),
    ("admin", _psychotherapy_read, "get_psychotherapy_note", 403),
    ("other", _psychotherapy_read, "get_psychotherapy_note", 403),
    ("patient", _psychotherapy_read, "get_psychotherapy_note", 403),
    ("author", _psychotherapy_authorize, "authorize_psychotherapy_note_disclosure", 201),
    ("admin", _psychotherapy_authorize, "authorize_psychotherapy_note_disclosure", 403),
    ("author", _psychotherapy_authorizations, "list_psychotherapy_note_authorizations", 200),
    ("other", _psychotherapy_authorizations, "list_psychotherapy_note_authorizations", 403),
    ("author", _psychotherapy_revoke, "revoke_psychotherapy_note_authorization", 200),
    ("admin", _psychotherapy_revoke, "revoke_psychotherapy_note_authorization", 403),
    ("other", _psychotherapy_disclose, "disclose_psychotherapy_note", 200),
    ("admin", _psychotherapy_disclose, "disclose_psychotherapy_note", 403),
    ("author", _psychotherapy_disclose, "disclose_psychotherapy_note", 403),
]
OUTCOMES = {
    200: "success",
    201: "success",
    400: "invalid",
    403: "denied",
    404: "not_found",
    412: "invalid",
}


async def last_event(engine) -> dict[str, Any]:
    async with engine.connect() as connection:
        row = (
            (
                await connection.execute(
                    text(
                        "SELECT actor, actor_kind, action, patient_id, outcome, status_code "
                        "FROM audit_events ORDER BY id DESC LIMIT 1"
                    )
                )
            )
            .mappings()
            .one()
        )
    return dict(row)


async def actor_of(cast: Cast, role: str) -> tuple[str, str]:
    """The audit trail's name and kind of the caller: a username, or a patient's id."""
    if role == "patient":
        return cast.patient_id, "patient"
    if role == "stranger":
        patients = (await cast.admin.get("/api/patients/")).json()["results"]
        [stranger] = [p["id"] for p in patients if p["id"] != cast.patient_id]
        return stranger, "patient"
    names = {"admin": "admin", "author": cast.author_name, "other": cast.other_name}
    return names[role], "staff"


@pytest.mark.parametrize(
    ("role", "request_", "action", "status"),
    CASES,
    ids=[f"{action}-{role}-{status}" for role, _, action, status in CASES],
)
async def test_the_event_of_each_action(cast: Cast, engine, caplog, role, request_, action, status):
    caplog.set_level(logging.DEBUG)
    response = await request_(cast, role)
    assert response.status_code == status, response.text
    event = await last_event(engine)
    actor, kind = await actor_of(cast, role)
    assert event == {
        "actor": actor,
        "actor_kind": kind,
        "action": action,
        "patient_id": cast.patient_id,
        "outcome": OUTCOMES[status],
        "status_code": status,
    }
    for secret in PHI:
        assert secret not in str(event)
        assert secret not in caplog.text

"""The clinical record's roles table (app.auth.record): docs/roles.md holds the same table,
and every cell holds through the HTTP API, against PostgreSQL."""

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.permissions import Access
from app.auth.record import TABLE, Act, Party, Rule, access
from tests.documents.test_documents import form, pdf_bytes, upload, url
from tests.factories import create_patient
from tests.notes.conftest import Cast, signed_note, write_note

ROLES_PAGE = Path(__file__).parents[2] / "docs" / "roles.md"
SECTION = "\n## The clinical record: who may do what\n"
PSYCHOTHERAPY = "/api/psychotherapy-notes/"
CLIENTS = {
    Party.ADMIN: "admin",
    Party.AUTHOR: "author",
    Party.OTHER_THERAPIST: "other",
    Party.OWN_PATIENT: "patient",
    Party.OTHER_PATIENT: "stranger",
}


def docs_table() -> dict[str, dict[str, str]]:
    """The docs' table: row label → column header → the cell's first word."""
    section = ROLES_PAGE.read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows: dict[str, dict[str, str]] = {}
    for line in lines[2:]:
        label, *cells = (cell.strip() for cell in line.strip("|").split("|"))
        words = [re.split(r"[\s,;(]", cell.replace("*", ""), maxsplit=1)[0] for cell in cells]
        rows[label] = dict(zip(header[1:], words, strict=True))
    return rows


def test_the_docs_table_is_the_policy_table():
    expected = {
        act.value: {party.value: rule.value for party, rule in rules.items()}
        for act, rules in TABLE.items()
    }
    assert docs_table() == expected


def test_every_act_has_a_row_and_every_row_every_column():
    assert set(TABLE) == set(Act)
    assert all(set(rules) == set(Party) for rules in TABLE.values())


def test_the_endpoints_coarse_checks_come_from_the_table():
    assert access(Act.DOCUMENTS_DELETE) is Access.ADMIN
    assert access(Act.DOCUMENTS_CHANGE) is Access.STAFF
    assert access(Act.NOTES_WRITE) is Access.STAFF
    assert access(Act.DOCUMENTS_READ) is Access.STAFF_OR_SELF


# Every cell through the API: an attempt per act, the status its success answers with.

SOAP_WITHHELD = {"withheld": True, "withheld_reason": "Third-party information."}
Attempt = Callable[[Cast, httpx.AsyncClient, Party], Awaitable[int]]
ATTEMPTS: dict[Act, tuple[int, Attempt]] = {}


def attempt(act: Act, success: int) -> Callable[[Attempt], Attempt]:
    def register(function: Attempt) -> Attempt:
        ATTEMPTS[act] = (success, function)
        return function

    return register


async def same(*responses: httpx.Response) -> int:
    """The one status the responses share (a row naming several requests answers them alike)."""
    statuses = {response.status_code for response in responses}
    assert len(statuses) == 1, [(r.request.url, r.status_code, r.text) for r in responses]
    return statuses.pop()


async def read_and_list(cast: Cast, client: httpx.AsyncClient, note: dict[str, Any]) -> int:
    """A note's read; its list agrees: it has the note when it is read, not when it is a 404."""
    read = await client.get(f"{cast.notes}{note['id']}/")
    listed = await client.get(cast.notes)
    if read.status_code == 403:
        assert listed.status_code == 403
    else:
        ids = [item["id"] for item in listed.json()["results"]]
        assert (note["id"] in ids) == (read.status_code == 200)
    return read.status_code


@attempt(Act.NOTES_READ, 200)
async def _read_signed(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    return await read_and_list(cast, client, await signed_note(cast))


@attempt(Act.NOTES_READ_WITHHELD, 200)
async def _read_withheld(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    return await read_and_list(cast, client, await signed_note(cast, **SOAP_WITHHELD))


@attempt(Act.NOTES_READ_DRAFT, 200)
async def _read_draft(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    return await read_and_list(cast, client, await write_note(cast))


@attempt(Act.NOTES_WRITE, 201)
async def _write(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    signed = await signed_note(cast)
    body = {"template": "DAP", "fields": {"data": "d", "assessment": "a", "plan": "p"}}
    written = await client.post(cast.notes, json=body)
    addendum = await client.post(f"{cast.notes}{signed['id']}/addenda/", json={"text": "Also."})
    return await same(written, addendum)


@attempt(Act.NOTES_COSIGN, 200)
async def _cosign(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    signed = await signed_note(cast)
    return (await client.post(f"{cast.notes}{signed['id']}/cosign/")).status_code


@attempt(Act.NOTES_WITHHOLD, 200)
async def _withhold(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    signed = await signed_note(cast)
    return (
        await client.post(f"{cast.notes}{signed['id']}/withhold/", json=SOAP_WITHHELD)
    ).status_code


async def psychotherapy_note(cast: Cast) -> dict[str, Any]:
    body = {"patient": cast.patient_id, "text": "Transference themes."}
    response = await cast.author.post(PSYCHOTHERAPY, json=body)
    assert response.status_code == 201, response.text
    note: dict[str, Any] = response.json()
    return note


async def authorization(cast: Cast, note: dict[str, Any], recipient: str) -> dict[str, Any]:
    expires_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"recipient": recipient, "purpose": "Consultation.", "expires_at": expires_at}
    response = await cast.author.post(f"{PSYCHOTHERAPY}{note['id']}/authorizations/", json=body)
    assert response.status_code == 201, response.text
    granted: dict[str, Any] = response.json()
    return granted


@attempt(Act.PSYCHOTHERAPY_WRITE, 201)
async def _psychotherapy_write(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    body = {"patient": cast.patient_id, "text": "Transference themes."}
    return (await client.post(PSYCHOTHERAPY, json=body)).status_code


@attempt(Act.PSYCHOTHERAPY_LIST, 200)
async def _psychotherapy_list(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    note = await psychotherapy_note(cast)
    listed = await client.get(PSYCHOTHERAPY)
    if listed.status_code == 200:  # their own only
        ids = [item["id"] for item in listed.json()["results"]]
        assert (note["id"] in ids) == (party is Party.AUTHOR)
    return listed.status_code


@attempt(Act.PSYCHOTHERAPY_READ, 200)
async def _psychotherapy_read(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    note = await psychotherapy_note(cast)
    return (await client.get(f"{PSYCHOTHERAPY}{note['id']}/")).status_code


@attempt(Act.PSYCHOTHERAPY_AUTHORIZE, 201)
async def _authorize(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    note = await psychotherapy_note(cast)
    expires_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"recipient": cast.other_name, "purpose": "p", "expires_at": expires_at}
    return (
        await client.post(f"{PSYCHOTHERAPY}{note['id']}/authorizations/", json=body)
    ).status_code


@attempt(Act.PSYCHOTHERAPY_AUTHORIZATIONS, 200)
async def _authorizations(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    note = await psychotherapy_note(cast)
    granted = await authorization(cast, note, cast.other_name)
    base = f"{PSYCHOTHERAPY}{note['id']}/authorizations/"
    listed = await client.get(base)
    revoked = await client.post(f"{base}{granted['id']}/revoke/")
    return await same(listed, revoked)


@attempt(Act.PSYCHOTHERAPY_DISCLOSE, 200)
async def _disclose(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    """As the recipient when the caller is staff but the author, as nobody's otherwise."""
    note = await psychotherapy_note(cast)
    names = {Party.ADMIN: "admin", Party.OTHER_THERAPIST: cast.other_name}
    granted = await authorization(cast, note, names.get(party, cast.other_name))
    disclosure = f"{PSYCHOTHERAPY}{note['id']}/disclosure/"
    answer = await client.get(disclosure, params={"authorization": granted["id"]})
    if party in names:
        without = await client.get(disclosure)
        assert without.status_code == 403
    return answer.status_code


async def document(cast: Cast, **withholding: Any) -> dict[str, Any]:
    created: dict[str, Any] = await upload(cast.admin, cast.patient_id, pdf_bytes())
    if withholding:
        changed = await cast.admin.patch(url(cast.patient_id, created["id"]), json=withholding)
        assert changed.status_code == 200, changed.text
    return created


async def read_document(cast: Cast, client: httpx.AsyncClient, doc: dict[str, Any]) -> int:
    """The document's metadata and bytes answer alike; its list agrees with them."""
    read = await client.get(url(cast.patient_id, doc["id"]))
    download = await client.get(url(cast.patient_id, doc["id"], "download/"))
    listed = await client.get(url(cast.patient_id))
    status = await same(read, download)
    if status == 403:
        assert listed.status_code == 403
    else:
        ids = [item["id"] for item in listed.json()["results"]]
        assert (doc["id"] in ids) == (status == 200)
    return status


@attempt(Act.DOCUMENTS_LIST, 200)
async def _documents_list(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    await document(cast)
    return (await client.get(url(cast.patient_id))).status_code


@attempt(Act.DOCUMENTS_UPLOAD, 201)
async def _documents_upload(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    return (await client.post(url(cast.patient_id), **form(pdf_bytes()))).status_code


@attempt(Act.DOCUMENTS_READ, 200)
async def _documents_read(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    return await read_document(cast, client, await document(cast))


@attempt(Act.DOCUMENTS_READ_WITHHELD, 200)
async def _documents_read_withheld(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    return await read_document(cast, client, await document(cast, **SOAP_WITHHELD))


@attempt(Act.DOCUMENTS_CHANGE, 200)
async def _documents_change(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    doc = await document(cast)
    return (await client.patch(url(cast.patient_id, doc["id"]), json={"title": "R"})).status_code


@attempt(Act.DOCUMENTS_DELETE, 204)
async def _documents_delete(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    doc = await document(cast)
    return (await client.delete(url(cast.patient_id, doc["id"]))).status_code


# The patient record's history and deletion.


def patient_url(cast: Cast, rest: str = "") -> str:
    return f"/api/patients/{cast.patient_id}/{rest}"


async def first_version(cast: Cast) -> dict[str, Any]:
    page = (await cast.admin.get(patient_url(cast, "history/"))).json()
    oldest: dict[str, Any] = page["results"][-1]
    return oldest


@attempt(Act.HISTORY_READ, 200)
async def _history_read(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    version = await first_version(cast)
    return await same(
        await client.get(patient_url(cast, "history/")),
        await client.get(patient_url(cast, f"history/{version['version']}/")),
    )


@attempt(Act.HISTORY_RESTORE, 200)
async def _history_restore(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    version = await first_version(cast)
    await cast.admin.patch(patient_url(cast), json={"first_name": "Changed"})
    restored = await client.post(patient_url(cast, f"history/{version['version']}/restore/"))
    expected = "Changed" if restored.status_code != 200 else restored.json()["first_name"]
    assert (await cast.admin.get(patient_url(cast))).json()["first_name"] == expected
    return restored.status_code


@attempt(Act.PATIENT_DELETE, 204)
async def _patient_delete(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    deleted = await client.delete(patient_url(cast))
    found = (await cast.admin.get(patient_url(cast))).status_code
    assert found == (404 if deleted.status_code == 204 else 200)
    return deleted.status_code


@attempt(Act.DELETED_RESTORE, 200)
async def _deleted_restore(cast: Cast, client: httpx.AsyncClient, party: Party) -> int:
    # Another patient is deleted: a deleted patient's own token no longer names anybody (401).
    gone = await create_patient(cast.admin)
    assert (await cast.admin.delete(f"/api/patients/{gone['id']}/")).status_code == 204
    return await same(
        await client.get("/api/deleted-patients/"),
        await client.post(f"/api/deleted-patients/{gone['id']}/restore/"),
    )


REFUSED = {Rule.INVALID: 400, Rule.DENIED: 403, Rule.HIDDEN: 404}


def test_every_act_is_tried():
    assert set(ATTEMPTS) == set(Act)


@pytest.mark.parametrize(
    ("act", "party"),
    [(act, party) for act in Act for party in Party],
    ids=lambda value: value.name.lower(),
)
async def test_each_cell_through_the_api(act: Act, party: Party, cast: Cast):
    rule = TABLE[act][party]
    success, tried = ATTEMPTS[act]
    expected = success if rule in (Rule.YES, Rule.RECIPIENT) else REFUSED[rule]
    assert await tried(cast, cast.by(CLIENTS[party]), party) == expected

"""Signing a progress note: who signs, what a signature records, what it needs (every field
written), and that a signed note never changes again, by any write path."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.notes.conftest import (
    SOAP,
    Cast,
    another_appointment,
    in_clinic_zone,
    signed_note,
    write_note,
)

DENIED = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"detail": "Not found."}
ALREADY_SIGNED = {"non_field_errors": ["The note is already signed."]}
SIGNED_IS_FINAL = {
    "non_field_errors": [
        "A signed note cannot be changed; add an addendum to correct it "
        "(POST .../addenda/), or withhold it (POST .../withhold/)."
    ]
}
STALE = {
    "detail": "The note has changed since you read it: If-Match does not match its current ETag."
}
DAP = {"data": "d", "assessment": "a", "plan": "p"}
BIRP = {"behavior": "b", "intervention": "i", "response": "r", "plan": "p"}


def empty(*names: str) -> dict[str, list[str]]:
    return {"fields": [f"A note is signed with every field written; empty: {', '.join(names)}."]}


def url(cast: Cast, note: dict[str, Any], action: str = "") -> str:
    return f"{cast.notes}{note['id']}/{action}"


# Who signs a draft: its author alone; another therapist does not see it.
SIGN_DRAFT = {
    "admin": (403, DENIED),
    "other": (404, NOT_FOUND),
    "patient": (403, DENIED),
    "stranger": (403, DENIED),
}


@pytest.mark.parametrize(("role", "answer"), SIGN_DRAFT.items())
async def test_only_the_author_signs_a_draft(cast: Cast, role: str, answer):
    note = await write_note(cast)
    response = await cast.by(role).post(url(cast, note, "sign/"))
    assert (response.status_code, response.json()) == answer
    unchanged = (await cast.author.get(url(cast, note))).json()
    assert unchanged == note


async def test_a_signature_records_its_signer_and_time(settings, cast: Cast):
    note = await write_note(cast)
    before = datetime.now(UTC)
    response = await cast.author.post(url(cast, note, "sign/"))
    after = datetime.now(UTC)
    assert response.status_code == 200, response.text
    signed = response.json()
    signed_at = datetime.fromisoformat(signed["signed_at"])
    assert before - timedelta(seconds=1) <= signed_at <= after
    assert in_clinic_zone(signed["signed_at"], settings.clinic_zone)
    assert signed == {
        **note,
        "status": "signed",
        "signed_by": cast.author_id,
        "signed_at": signed["signed_at"],
        "updated_at": signed["updated_at"],
    }
    assert (await cast.author.get(url(cast, note))).json() == signed


async def test_signing_changes_the_etag(cast: Cast):
    created = await cast.author.post(cast.notes, json={"template": "SOAP", "fields": SOAP})
    note = created.json()
    signed = await cast.author.post(url(cast, note, "sign/"))
    assert signed.headers["ETag"] != created.headers["ETag"]
    read = await cast.author.get(url(cast, note))
    assert read.headers["ETag"] == signed.headers["ETag"]


async def test_signing_twice_is_a_400_that_keeps_the_first_signature(cast: Cast):
    signed = await signed_note(cast)
    again = await cast.author.post(url(cast, signed, "sign/"))
    assert (again.status_code, again.json()) == (400, ALREADY_SIGNED)
    assert (await cast.author.get(url(cast, signed))).json() == signed


async def test_sign_honours_if_match(cast: Cast):
    created = await cast.author.post(cast.notes, json={"template": "SOAP", "fields": SOAP})
    note = created.json()
    stale = await cast.author.post(url(cast, note, "sign/"), headers={"If-Match": '"1"'})
    assert (stale.status_code, stale.json()) == (412, STALE)
    assert (await cast.author.get(url(cast, note))).json()["status"] == "draft"
    current = {"If-Match": created.headers["ETag"]}
    signed = await cast.author.post(url(cast, note, "sign/"), headers=current)
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "signed"


async def test_another_therapist_may_not_sign_a_signed_note(cast: Cast):
    signed = await signed_note(cast)
    for role in ("other", "admin"):
        response = await cast.by(role).post(url(cast, signed, "sign/"))
        assert (response.status_code, response.json()) == (403, DENIED), role


async def test_an_unknown_note_or_another_appointments_note_is_a_404(cast: Cast, client):
    note = await write_note(cast)
    elsewhere = await another_appointment(client, cast.patient_id, cast.author_id)
    wrong = f"/api/appointments/{elsewhere['id']}/notes/{note['id']}/sign/"
    response = await cast.author.post(wrong)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    unknown = await cast.author.post(f"{cast.notes}999999999/sign/")
    assert (unknown.status_code, unknown.json()) == (404, NOT_FOUND)
    assert (await cast.author.get(url(cast, note))).json()["status"] == "draft"


# A draft may leave a field empty; a signature needs every field written.


@pytest.mark.parametrize(
    ("template", "fields", "answer"),
    [
        ("SOAP", {**SOAP, "plan": ""}, empty("plan")),
        ("SOAP", {**SOAP, "subjective": " \n\t "}, empty("subjective")),
        ("SOAP", dict.fromkeys(SOAP, ""), empty("subjective", "objective", "assessment", "plan")),
        ("DAP", {**DAP, "data": ""}, empty("data")),
        ("BIRP", {**BIRP, "intervention": "", "response": ""}, empty("intervention", "response")),
    ],
)
async def test_a_note_with_an_empty_field_is_not_signed(cast: Cast, template, fields, answer):
    note = await write_note(cast, template=template, fields=fields)
    assert note["fields"] == fields  # a draft may have it
    response = await cast.author.post(url(cast, note, "sign/"))
    assert (response.status_code, response.json()) == (400, answer)
    assert (await cast.author.get(url(cast, note))).json() == note


async def test_a_draft_filled_in_is_then_signed(cast: Cast):
    note = await write_note(cast, fields={**SOAP, "plan": ""})
    patched = await cast.author.patch(url(cast, note), json={"fields": SOAP})
    assert patched.status_code == 200, patched.text
    signed = await cast.author.post(url(cast, note, "sign/"))
    assert signed.status_code == 200, signed.text
    assert signed.json()["fields"] == SOAP


@pytest.mark.parametrize(
    ("template", "fields"),
    [("SOAP", {**SOAP, "plan": "."}), ("DAP", DAP), ("BIRP", BIRP)],
)
async def test_each_template_signs_with_every_field_written(cast: Cast, template, fields):
    note = await write_note(cast, template=template, fields=fields)
    response = await cast.author.post(url(cast, note, "sign/"))
    assert response.status_code == 200, response.text
    assert response.json()["fields"] == fields
    assert response.json()["template"] == template


async def test_a_withheld_draft_signed_stays_withheld(cast: Cast):
    reason = "Risk of harm to a third party."
    note = await write_note(cast, withheld=True, withheld_reason=reason)
    signed = (await cast.author.post(url(cast, note, "sign/"))).json()
    assert (signed["status"], signed["withheld"], signed["withheld_reason"]) == (
        "signed",
        True,
        reason,
    )


# A signed note never changes: every PATCH is the same 400, whatever it sends, and changes nothing.

PATCHES = [
    {"fields": {**SOAP, "plan": "Changed."}},
    {"template": "DAP", "fields": DAP},
    {"template": "SOAP"},
    {"withheld": True, "withheld_reason": "Risk."},
    {"withheld": False},
    {"withheld_reason": "Risk."},
    {},
]


@pytest.mark.parametrize("body", PATCHES)
async def test_every_patch_of_a_signed_note_is_refused(cast: Cast, body):
    signed = await signed_note(cast)
    before = await cast.author.get(url(cast, signed))
    response = await cast.author.patch(url(cast, signed), json=body)
    assert (response.status_code, response.json()) == (400, SIGNED_IS_FINAL)
    after = await cast.author.get(url(cast, signed))
    assert after.json() == before.json()
    assert after.headers["ETag"] == before.headers["ETag"]


async def test_a_signed_note_refuses_a_patch_from_anyone_else(cast: Cast):
    signed = await signed_note(cast)
    for role, answer in {
        "admin": (403, DENIED),
        "other": (403, DENIED),
        "patient": (403, DENIED),
        "stranger": (403, DENIED),
    }.items():
        response = await cast.by(role).patch(url(cast, signed), json={"fields": SOAP})
        assert (response.status_code, response.json()) == answer, role
    assert (await cast.author.get(url(cast, signed))).json() == signed


async def test_a_stale_if_match_on_a_signed_note_is_a_412(cast: Cast):
    signed = await signed_note(cast)
    response = await cast.author.patch(
        url(cast, signed), json={"fields": SOAP}, headers={"If-Match": '"1"'}
    )
    assert (response.status_code, response.json()) == (412, STALE)


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_a_note_has_no_put_or_delete(cast: Cast, method: str):
    signed = await signed_note(cast)
    response = await cast.author.request(method, url(cast, signed), json={})
    assert (response.status_code, response.json()) == (
        405,
        {"detail": f'Method "{method}" not allowed.'},
    )
    assert (await cast.author.get(url(cast, signed))).json() == signed

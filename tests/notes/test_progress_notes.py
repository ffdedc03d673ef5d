"""Progress notes: templates, draft -> signed -> locked, addenda, co-signing, withholding, and
who may do what (cell by cell)."""

import json

import pytest
from sqlalchemy import text

from tests.notes.conftest import SOAP, Cast, signed_note, write_note

ROLES = ("admin", "author", "other", "patient", "stranger")
JSON = {"content-type": "application/json"}


async def scalar(engine, sql: str, **params):
    async with engine.connect() as connection:
        return await connection.scalar(text(sql), params)


async def test_lifecycle_draft_signed_locked_addenda_cosign(cast: Cast, engine):
    response = await cast.author.post(cast.notes, json={"template": "SOAP", "fields": SOAP})
    assert response.status_code == 201, response.text
    note = response.json()
    url = f"{cast.notes}{note['id']}/"
    assert response.headers["Location"].endswith(url)
    assert note["status"] == "draft"
    assert note["fields"] == SOAP
    assert note["author"] == cast.author_id
    assert note["patient"] == cast.patient_id
    assert note["signed_by"] is None
    assert note["addenda"] == []
    etag = response.headers["ETag"]
    # Encrypted at rest: the column holds no plaintext.
    stored = await scalar(engine, "SELECT fields FROM progress_notes WHERE id = :i", i=note["id"])
    assert "better sleep" not in stored
    # If-Match on a draft's PATCH.
    stale = await cast.author.patch(url, json={"fields": SOAP}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    changed = {**SOAP, "plan": "Fortnightly."}
    patched = await cast.author.patch(url, json={"fields": changed}, headers={"If-Match": etag})
    assert patched.status_code == 200, patched.text
    assert patched.json()["fields"]["plan"] == "Fortnightly."
    assert patched.headers["ETag"] != etag
    # A template change needs its fields.
    wrong = await cast.author.patch(url, json={"template": "DAP"})
    assert wrong.status_code == 400
    assert "DAP note has exactly the fields data, assessment, plan" in wrong.json()["fields"][0]
    dap = {"data": "d", "assessment": "a", "plan": "p"}
    switched = await cast.author.patch(url, json={"template": "DAP", "fields": dap})
    assert switched.status_code == 200
    assert switched.json()["template"] == "DAP"
    # Signing: by whom and when; then locked.
    signed = await cast.author.post(f"{url}sign/")
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "signed"
    assert signed.json()["signed_by"] == cast.author_id
    assert signed.json()["signed_at"]
    locked = await cast.author.patch(url, json={"fields": dap})
    assert locked.status_code == 400
    assert "A signed note cannot be changed" in locked.json()["non_field_errors"][0]
    again = await cast.author.post(f"{url}sign/")
    assert again.json() == {"non_field_errors": ["The note is already signed."]}
    # Addenda: signed and timestamped by their author.
    added = await cast.author.post(f"{url}addenda/", json={"text": "Corrected: 6 hours."})
    assert added.status_code == 201, added.text
    [addendum] = added.json()["addenda"]
    assert addendum["author"] == cast.author_id
    assert addendum["signed_at"]
    assert addendum["text"] == "Corrected: 6 hours."
    assert added.json()["fields"] == dap  # the note itself unchanged
    stored = await scalar(
        engine, "SELECT text FROM progress_note_addenda WHERE note_id = :i", i=note["id"]
    )
    assert "6 hours" not in stored
    # Co-sign: another staff member, once.
    own = await cast.author.post(f"{url}cosign/")
    assert own.status_code == 400
    cosigned = await cast.other.post(f"{url}cosign/")
    assert cosigned.status_code == 200, cosigned.text
    assert cosigned.json()["cosigned_by"] == cast.other_id
    assert cosigned.json()["cosigned_at"]
    twice = await cast.admin.post(f"{url}cosign/")
    assert twice.json() == {"non_field_errors": ["The note is already co-signed."]}
    read = await cast.patient.get(url)
    assert read.status_code == 200
    assert len(read.json()["addenda"]) == 1


async def test_addenda_and_cosign_need_a_signed_note(cast: Cast):
    note = await write_note(cast)
    url = f"{cast.notes}{note['id']}/"
    addendum = await cast.author.post(f"{url}addenda/", json={"text": "x"})
    assert addendum.status_code == 400
    assert "Only a signed note takes addenda" in addendum.json()["non_field_errors"][0]
    cosign = await cast.admin.post(f"{url}cosign/")
    assert cosign.json() == {"non_field_errors": ["Only a signed note can be co-signed."]}


@pytest.mark.parametrize(
    ("template", "fields"),
    [
        ("SOAP", SOAP),
        ("DAP", {"data": "d", "assessment": "a", "plan": "p"}),
        ("BIRP", {"behavior": "b", "intervention": "i", "response": "r", "plan": "p"}),
    ],
)
async def test_templates(cast: Cast, template, fields):
    note = await write_note(cast, template=template, fields=fields)
    assert note["template"] == template
    assert note["fields"] == fields


async def test_fields_must_match_the_template(cast: Cast):
    cases = [
        ({"template": "SOAP", "fields": {"subjective": "s"}}, "fields"),
        ({"template": "SOAP", "fields": {**SOAP, "extra": "x"}}, "fields"),
        ({"template": "SOAP", "fields": {**SOAP, "plan": "x" * 5001}}, "fields"),
        ({"template": "SOAP", "fields": {**SOAP, "plan": 3}}, "fields"),
        ({"template": "XYZ", "fields": SOAP}, "template"),
        ({"template": "SOAP", "fields": SOAP, "withheld": True}, "withheld_reason"),
    ]
    for body, field in cases:
        response = await cast.author.post(cast.notes, json=body)
        assert response.status_code == 400, body
        assert field in response.json(), response.json()
    longest = await cast.author.post(
        cast.notes, json={"template": "SOAP", "fields": {**SOAP, "plan": "x" * 5000}}
    )
    assert longest.status_code == 201


async def test_patient_reads_signed_not_withheld_never_drafts(cast: Cast):
    draft = await write_note(cast)
    shown = await signed_note(cast)
    hidden = await signed_note(cast, withheld=True, withheld_reason="Risk of harm.")
    assert hidden["withheld"] is True
    assert hidden["withheld_reason"] == "Risk of harm."
    listed = (await cast.patient.get(cast.notes)).json()
    assert [note["id"] for note in listed["results"]] == [shown["id"]]
    assert (await cast.patient.get(f"{cast.notes}{shown['id']}/")).status_code == 200
    assert (await cast.patient.get(f"{cast.notes}{draft['id']}/")).status_code == 404
    assert (await cast.patient.get(f"{cast.notes}{hidden['id']}/")).status_code == 404
    # Staff see all three (the author); an admin too; another therapist the signed ones.
    assert (await cast.author.get(cast.notes)).json()["count"] == 3
    assert (await cast.admin.get(cast.notes)).json()["count"] == 3
    other = (await cast.other.get(cast.notes)).json()
    assert sorted(note["id"] for note in other["results"]) == [shown["id"], hidden["id"]]
    # Showing it again, by an admin: the patient reads it.
    url = f"{cast.notes}{hidden['id']}/withhold/"
    missing = await cast.admin.post(url, json={"withheld": True})
    assert missing.status_code == 400
    assert "withheld_reason" in missing.json()
    shown_again = await cast.admin.post(url, json={"withheld": False})
    assert shown_again.status_code == 200, shown_again.text
    assert shown_again.json()["withheld_reason"] is None
    assert (await cast.patient.get(f"{cast.notes}{hidden['id']}/")).status_code == 200
    # Another patient: 403 on the appointment's notes.
    assert (await cast.stranger.get(cast.notes)).status_code == 403
    assert (await cast.stranger.get(f"{cast.notes}{shown['id']}/")).status_code == 403


async def test_unknown_appointment_or_note(cast: Cast):
    assert (await cast.admin.get("/api/appointments/999999999/notes/")).status_code == 404
    assert (await cast.admin.get(f"{cast.notes}999999999/")).status_code == 404
    assert (
        await cast.author.post(
            "/api/appointments/999999999/notes/", json={"template": "SOAP", "fields": SOAP}
        )
    ).status_code == 404


# Who may do what, cell by cell (the roles table of docs/roles.md).
CREATE = {"admin": 403, "author": 201, "other": 403, "patient": 403, "stranger": 403}
READ_DRAFT = {"admin": 200, "author": 200, "other": 404, "patient": 404, "stranger": 403}
READ_SIGNED = {"admin": 200, "author": 200, "other": 200, "patient": 200, "stranger": 403}
PATCH_DRAFT = {"admin": 403, "author": 200, "other": 404, "patient": 403, "stranger": 403}
SIGN = {"admin": 403, "author": 200, "other": 404, "patient": 403, "stranger": 403}
ADDENDUM = {"admin": 403, "author": 201, "other": 403, "patient": 403, "stranger": 403}
COSIGN = {"admin": 200, "author": 400, "other": 200, "patient": 403, "stranger": 403}
WITHHOLD = {"admin": 200, "author": 200, "other": 403, "patient": 403, "stranger": 403}


@pytest.mark.parametrize("role", ROLES)
async def test_roles(cast: Cast, role: str):
    caller = cast.by(role)
    body = {"template": "SOAP", "fields": SOAP}
    assert (await caller.post(cast.notes, json=body)).status_code == CREATE[role]
    draft = await write_note(cast)
    url = f"{cast.notes}{draft['id']}/"
    assert (await caller.get(url)).status_code == READ_DRAFT[role]
    assert (await caller.patch(url, json={"fields": SOAP})).status_code == PATCH_DRAFT[role]
    assert (await caller.post(f"{url}sign/")).status_code == SIGN[role]
    signed = await signed_note(cast)
    url = f"{cast.notes}{signed['id']}/"
    assert (await caller.get(url)).status_code == READ_SIGNED[role]
    addendum = await caller.post(f"{url}addenda/", json={"text": "More."})
    assert addendum.status_code == ADDENDUM[role]
    assert (await caller.post(f"{url}cosign/")).status_code == COSIGN[role]
    withhold = await caller.post(f"{url}withhold/", json={"withheld": True, "withheld_reason": "r"})
    assert withhold.status_code == WITHHOLD[role]


async def test_every_read_and_refusal_is_audited(cast: Cast, engine):
    note = await signed_note(cast)
    await cast.patient.get(f"{cast.notes}{note['id']}/")
    await cast.stranger.get(f"{cast.notes}{note['id']}/")
    rows = await scalar(
        engine,
        "SELECT string_agg(actor_kind || ':' || action || ':' || outcome, ',' ORDER BY id) "
        "FROM audit_events WHERE patient_id = :p AND action LIKE '%progress_note%'",
        p=cast.patient_id,
    )
    assert "staff:create_progress_note:success" in rows
    assert "staff:sign_progress_note:success" in rows
    assert "patient:get_progress_note:success" in rows
    assert "patient:get_progress_note:denied" in rows


def escaped(body: object) -> bytes:
    """JSON with every non-ASCII character escaped: a lone surrogate becomes `\\udXXX`."""
    return json.dumps(body).encode()


SURROGATE = "Surrogate characters are not allowed: U+D800."
CONTROL = "Control characters other than line breaks and tabs are not allowed: U+0007."


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("sleep \ud800", SURROGATE),
        ("bell \x07", CONTROL),
        ("nul \x00", "Null characters are not allowed."),
    ],
)
async def test_a_field_of_a_new_note_is_held_to_the_text_rule(cast: Cast, engine, value, message):
    body = {"template": "SOAP", "fields": {**SOAP, "plan": value}}
    response = await cast.author.post(cast.notes, content=escaped(body), headers=JSON)
    assert response.status_code == 400
    assert response.json() == {"fields": [message]}
    assert await scalar(engine, "SELECT count(*) FROM progress_notes") == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("sleep \ud800", SURROGATE),
        ("bell \x07", CONTROL),
        ("nul \x00", "Null characters are not allowed."),
    ],
)
async def test_a_field_of_a_draft_patched_is_held_to_the_text_rule(cast: Cast, value, message):
    note = await write_note(cast)
    url = f"{cast.notes}{note['id']}/"
    body = {"fields": {**SOAP, "subjective": value}}
    response = await cast.author.patch(url, content=escaped(body), headers=JSON)
    assert response.status_code == 400
    assert response.json() == {"fields": [message]}
    # The same with a template change, whose fields are checked by the service too.
    dap = {"data": value, "assessment": "a", "plan": "p"}
    response = await cast.author.patch(
        url, content=escaped({"template": "DAP", "fields": dap}), headers=JSON
    )
    assert response.status_code == 400
    assert response.json() == {"fields": [message]}
    assert (await cast.author.get(url)).json()["fields"] == SOAP


async def test_a_field_keeps_its_line_breaks_and_tabs(cast: Cast):
    fields = {**SOAP, "objective": "Calm.\n\tEngaged;\r\nslept 6 hours."}
    note = await write_note(cast, fields=fields)
    assert note["fields"] == fields


async def test_a_withheld_reason_is_one_line(cast: Cast):
    body = {
        "template": "SOAP",
        "fields": SOAP,
        "withheld": True,
        "withheld_reason": "Risk\nof harm",
    }
    response = await cast.author.post(cast.notes, json=body)
    assert response.status_code == 400
    assert response.json() == {
        "withheld_reason": [
            "Line breaks, tabs and other control characters are not allowed: U+000A."
        ]
    }

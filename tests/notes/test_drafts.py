"""Writing and changing a draft progress note: who may, for which appointment, in which
template with which fields, and what a PATCH does to each of them."""

from typing import Any

import pytest
from sqlalchemy import text

from app.models.scheduling import STATUSES
from tests.notes.conftest import SOAP, Cast, another_appointment, write_note

DENIED = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"detail": "Not found."}
STALE = {
    "detail": "The note has changed since you read it: If-Match does not match its current ETag."
}
DAP = {"data": "d", "assessment": "a", "plan": "p"}
BIRP = {"behavior": "b", "intervention": "i", "response": "r", "plan": "p"}
RULE = {
    "SOAP": "A SOAP note has exactly the fields subjective, objective, assessment, plan.",
    "DAP": "A DAP note has exactly the fields data, assessment, plan.",
    "BIRP": "A BIRP note has exactly the fields behavior, intervention, response, plan.",
}
REASON_REQUIRED = {
    "withheld_reason": ["A reason is required when the note is withheld from the patient."]
}


def url(cast: Cast, note: dict[str, Any]) -> str:
    return f"{cast.notes}{note['id']}/"


# Who writes a note: the appointment's therapist alone.
CREATE = {
    "admin": (403, DENIED),
    "other": (403, DENIED),
    "patient": (403, DENIED),
    "stranger": (403, DENIED),
}


@pytest.mark.parametrize(("role", "answer"), CREATE.items())
async def test_only_the_appointments_therapist_writes_a_note(cast: Cast, role: str, answer):
    response = await cast.by(role).post(cast.notes, json={"template": "SOAP", "fields": SOAP})
    assert (response.status_code, response.json()) == answer
    assert (await cast.admin.get(cast.notes)).json()["count"] == 0


async def test_a_new_note_is_a_draft_of_the_appointments_therapist(cast: Cast):
    response = await cast.author.post(cast.notes, json={"template": "SOAP", "fields": SOAP})
    assert response.status_code == 201, response.text
    note = response.json()
    assert response.headers["Location"] == f"http://testserver{url(cast, note)}"
    assert response.headers["ETag"] == (await cast.author.get(url(cast, note))).headers["ETag"]
    assert note == {
        "id": note["id"],
        "appointment": cast.appointment["id"],
        "patient": cast.patient_id,
        "author": cast.author_id,
        "template": "SOAP",
        "fields": SOAP,
        "status": "draft",
        "signed_by": None,
        "signed_at": None,
        "cosigned_by": None,
        "cosigned_at": None,
        "withheld": False,
        "withheld_reason": None,
        "addenda": [],
        "created_at": note["created_at"],
        "updated_at": note["created_at"],
    }


async def test_a_therapist_writes_only_for_their_own_appointments(cast: Cast, client):
    theirs = await another_appointment(client, cast.patient_id, cast.other_id)
    notes = f"/api/appointments/{theirs['id']}/notes/"
    body = {"template": "SOAP", "fields": SOAP}
    refused = await cast.author.post(notes, json=body)
    assert (refused.status_code, refused.json()) == (403, DENIED)
    written = await cast.other.post(notes, json=body)
    assert written.status_code == 201, written.text
    assert written.json()["author"] == cast.other_id


async def test_an_appointment_takes_several_notes(cast: Cast):
    first = await write_note(cast)
    second = await write_note(cast, template="DAP", fields=DAP)
    listed = (await cast.author.get(cast.notes)).json()
    assert [note["id"] for note in listed["results"]] == [first["id"], second["id"]]
    assert listed["count"] == 2


@pytest.mark.parametrize("status", STATUSES)
async def test_a_note_is_written_whatever_the_appointments_status(cast: Cast, engine, status):
    """The contract ties a note to its appointment, not to the appointment's status: a missed
    or cancelled session is documented too."""
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE appointments SET status = :s WHERE id = :i"),
            {"s": status, "i": cast.appointment["id"]},
        )
    note = await write_note(cast)
    assert note["appointment"] == cast.appointment["id"]


async def test_an_unknown_appointment_is_a_404(cast: Cast):
    body = {"template": "SOAP", "fields": SOAP}
    for path in ("/api/appointments/999999999/notes/", "/api/appointments/999999999/notes/1/"):
        response = await cast.author.get(path)
        assert (response.status_code, response.json()) == (404, NOT_FOUND), path
    response = await cast.author.post("/api/appointments/999999999/notes/", json=body)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


async def test_a_deleted_patients_notes_are_not_found(cast: Cast):
    note = await write_note(cast)
    deleted = await cast.admin.delete(f"/api/patients/{cast.patient_id}/")
    assert deleted.status_code == 204, deleted.text
    for role in ("admin", "author"):
        for response in (
            await cast.by(role).get(cast.notes),
            await cast.by(role).get(url(cast, note)),
            await cast.by(role).patch(url(cast, note), json={"fields": SOAP}),
        ):
            assert (response.status_code, response.json()) == (404, NOT_FOUND), role
    body = {"template": "SOAP", "fields": SOAP}
    response = await cast.author.post(cast.notes, json=body)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


# Templates and their fields: exactly the template's keys, each a text of 0 to 5000 characters.


@pytest.mark.parametrize(
    ("template", "fields"),
    [
        ("SOAP", {"subjective": "s", "objective": "o", "assessment": "a"}),
        ("SOAP", {**SOAP, "data": "d"}),
        ("SOAP", DAP),
        ("SOAP", {}),
        ("DAP", SOAP),
        ("DAP", {"data": "d", "assessment": "a"}),
        ("BIRP", {**BIRP, "Plan": "p"}),
        ("BIRP", DAP),
    ],
)
async def test_the_fields_must_be_exactly_the_templates(cast: Cast, template, fields):
    response = await cast.author.post(cast.notes, json={"template": template, "fields": fields})
    assert (response.status_code, response.json()) == (400, {"fields": [RULE[template]]})


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ({}, {"template": ["This field is required."], "fields": ["This field is required."]}),
        ({"fields": SOAP}, {"template": ["This field is required."]}),
        ({"template": "SOAP"}, {"fields": ["This field is required."]}),
        (
            {"template": "soap", "fields": SOAP},
            {"template": ["Must be one of 'SOAP', 'DAP' or 'BIRP'."]},
        ),
        ({"template": "SOAP", "fields": []}, {"fields": ["Input should be a valid dictionary"]}),
        (
            {"template": "SOAP", "fields": {**SOAP, "plan": 3}},
            {"fields": ["The field plan must be text."]},
        ),
        (
            {"template": "SOAP", "fields": {**SOAP, "plan": None}},
            {"fields": ["The field plan must be text."]},
        ),
        (
            {"template": "SOAP", "fields": {**SOAP, "plan": "x" * 5001}},
            {"fields": ["The field plan has at most 5000 characters."]},
        ),
        ({"template": "SOAP", "fields": SOAP, "withheld": True}, REASON_REQUIRED),
        (
            {"template": "SOAP", "fields": SOAP, "withheld": True, "withheld_reason": None},
            REASON_REQUIRED,
        ),
        (
            {"template": "SOAP", "fields": SOAP, "withheld": "yes", "withheld_reason": "r"},
            {"withheld": ["Input should be a valid boolean"]},
        ),
    ],
)
async def test_a_new_note_is_checked(cast: Cast, body, answer):
    response = await cast.author.post(cast.notes, json=body)
    assert (response.status_code, response.json()) == (400, answer)
    assert (await cast.author.get(cast.notes)).json()["count"] == 0


@pytest.mark.parametrize(
    ("template", "fields"),
    [
        ("SOAP", dict.fromkeys(SOAP, "")),
        ("SOAP", {**SOAP, "plan": "x" * 5000}),
        ("DAP", {**DAP, "data": "x" * 5000}),
        ("BIRP", {**BIRP, "behavior": ""}),
    ],
)
async def test_a_draft_takes_empty_and_longest_fields(cast: Cast, template, fields):
    note = await write_note(cast, template=template, fields=fields)
    assert note["fields"] == fields


async def test_a_reason_without_withholding_is_not_kept(cast: Cast):
    note = await write_note(cast, withheld=False, withheld_reason="Not withheld after all.")
    assert (note["withheld"], note["withheld_reason"]) == (False, None)


# PATCH of a draft: its author alone.
PATCH_DRAFT = {
    "admin": (403, DENIED),
    "other": (404, NOT_FOUND),
    "patient": (403, DENIED),
    "stranger": (403, DENIED),
}


@pytest.mark.parametrize(("role", "answer"), PATCH_DRAFT.items())
async def test_only_the_author_changes_a_draft(cast: Cast, role: str, answer):
    note = await write_note(cast)
    changed = {**SOAP, "plan": "Someone else's plan."}
    response = await cast.by(role).patch(url(cast, note), json={"fields": changed})
    assert (response.status_code, response.json()) == answer
    assert (await cast.author.get(url(cast, note))).json() == note


async def test_patching_the_fields_replaces_them_whole(cast: Cast):
    note = await write_note(cast)
    partial = await cast.author.patch(url(cast, note), json={"fields": {"plan": "Only this."}})
    assert (partial.status_code, partial.json()) == (400, {"fields": [RULE["SOAP"]]})
    changed = {**SOAP, "plan": "Fortnightly."}
    response = await cast.author.patch(url(cast, note), json={"fields": changed})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched == {**note, "fields": changed, "updated_at": patched["updated_at"]}
    assert patched["updated_at"] > note["updated_at"]


async def test_a_template_change_needs_the_new_templates_fields(cast: Cast):
    note = await write_note(cast)
    alone = await cast.author.patch(url(cast, note), json={"template": "DAP"})
    assert (alone.status_code, alone.json()) == (400, {"fields": [RULE["DAP"]]})
    mixed = await cast.author.patch(url(cast, note), json={"template": "BIRP", "fields": DAP})
    assert (mixed.status_code, mixed.json()) == (400, {"fields": [RULE["BIRP"]]})
    switched = await cast.author.patch(url(cast, note), json={"template": "BIRP", "fields": BIRP})
    assert switched.status_code == 200, switched.text
    assert (switched.json()["template"], switched.json()["fields"]) == ("BIRP", BIRP)
    same = await cast.author.patch(url(cast, note), json={"template": "BIRP"})
    assert same.status_code == 200
    assert same.json()["fields"] == BIRP


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ({"template": None}, {"template": ["This field may not be null."]}),
        ({"fields": None}, {"fields": ["This field may not be null."]}),
        ({"withheld": None}, {"withheld": ["This field may not be null."]}),
        (
            {"fields": {**SOAP, "plan": "x" * 5001}},
            {"fields": ["The field plan has at most 5000 characters."]},
        ),
        ({"withheld": True}, REASON_REQUIRED),
        (
            {"withheld": True, "withheld_reason": ""},
            {"withheld_reason": ["This field may not be blank."]},
        ),
        (
            {"withheld": True, "withheld_reason": "x" * 501},
            {"withheld_reason": ["Ensure this field has no more than 500 characters."]},
        ),
    ],
)
async def test_a_patch_is_checked(cast: Cast, body, answer):
    note = await write_note(cast)
    response = await cast.author.patch(url(cast, note), json=body)
    assert (response.status_code, response.json()) == (400, answer)
    assert (await cast.author.get(url(cast, note))).json() == note


async def test_an_empty_patch_changes_nothing(cast: Cast):
    created = await cast.author.post(cast.notes, json={"template": "SOAP", "fields": SOAP})
    note = created.json()
    for body in ({}, {"status": "signed", "signed_by": cast.author_id}):
        response = await cast.author.patch(url(cast, note), json=body)
        assert response.status_code == 200, response.text
        assert response.json() == note
        assert response.headers["ETag"] == created.headers["ETag"]


async def test_a_patch_withholds_and_shows_a_draft_again(cast: Cast):
    note = await write_note(cast)
    withheld = await cast.author.patch(
        url(cast, note), json={"withheld": True, "withheld_reason": "Third-party information."}
    )
    assert withheld.status_code == 200, withheld.text
    assert (withheld.json()["withheld"], withheld.json()["withheld_reason"]) == (
        True,
        "Third-party information.",
    )
    reason = await cast.author.patch(url(cast, note), json={"withheld_reason": "Risk of harm."})
    assert reason.json()["withheld_reason"] == "Risk of harm."
    cleared = await cast.author.patch(url(cast, note), json={"withheld_reason": None})
    assert (cleared.status_code, cleared.json()) == (400, REASON_REQUIRED)
    shown = await cast.author.patch(url(cast, note), json={"withheld": False})
    assert (shown.json()["withheld"], shown.json()["withheld_reason"]) == (False, None)


async def test_a_patch_honours_if_match(cast: Cast):
    created = await cast.author.post(cast.notes, json={"template": "SOAP", "fields": SOAP})
    note = created.json()
    changed = {**SOAP, "plan": "Fortnightly."}
    first = await cast.author.patch(
        url(cast, note), json={"fields": changed}, headers={"If-Match": created.headers["ETag"]}
    )
    assert first.status_code == 200, first.text
    stale = await cast.author.patch(
        url(cast, note), json={"fields": SOAP}, headers={"If-Match": created.headers["ETag"]}
    )
    assert (stale.status_code, stale.json()) == (412, STALE)
    assert (await cast.author.get(url(cast, note))).json()["fields"] == changed
    anything = await cast.author.patch(
        url(cast, note), json={"fields": SOAP}, headers={"If-Match": "*"}
    )
    assert anything.status_code == 200
    assert anything.json()["fields"] == SOAP

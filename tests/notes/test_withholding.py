"""Withholding a progress note from its patient: who may withhold it and show it again, the
reason's rule, what a withheld note looks like to each role, and what withholding leaves alone."""

from typing import Any

import pytest
from sqlalchemy import text

from tests.notes.conftest import Cast, signed_note, write_note

DENIED = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"detail": "Not found."}
STALE = {
    "detail": "The note has changed since you read it: If-Match does not match its current ETag."
}
REASON = "Disclosure could endanger a third party."
WITHHOLD = {"withheld": True, "withheld_reason": REASON}
REASON_REQUIRED = {
    "withheld_reason": ["A reason is required when the note is withheld from the patient."]
}


def url(cast: Cast, note: dict[str, Any], action: str = "") -> str:
    return f"{cast.notes}{note['id']}/{action}"


# Who withholds: the author or an admin, a draft or a signed note.
WITHHOLD_SIGNED = {
    "admin": (200, None),
    "author": (200, None),
    "other": (403, DENIED),
    "patient": (403, DENIED),
    "stranger": (403, DENIED),
}
WITHHOLD_DRAFT = {**WITHHOLD_SIGNED, "other": (404, NOT_FOUND)}


@pytest.mark.parametrize(("role", "answer"), WITHHOLD_SIGNED.items())
async def test_who_withholds_a_signed_note(cast: Cast, role: str, answer):
    signed = await signed_note(cast)
    response = await cast.by(role).post(url(cast, signed, "withhold/"), json=WITHHOLD)
    status, body = answer
    assert response.status_code == status, response.text
    after = (await cast.author.get(url(cast, signed))).json()
    if status == 200:
        assert response.json() == {
            **signed,
            **WITHHOLD,
            "updated_at": response.json()["updated_at"],
        }
        assert after == response.json()
    else:
        assert response.json() == body
        assert after == signed


@pytest.mark.parametrize(("role", "answer"), WITHHOLD_DRAFT.items())
async def test_who_withholds_a_draft(cast: Cast, role: str, answer):
    draft = await write_note(cast)
    response = await cast.by(role).post(url(cast, draft, "withhold/"), json=WITHHOLD)
    status, body = answer
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json() == {**draft, **WITHHOLD, "updated_at": response.json()["updated_at"]}
    else:
        assert response.json() == body
        assert (await cast.author.get(url(cast, draft))).json() == draft


@pytest.mark.parametrize("role", ["admin", "author"])
async def test_who_shows_a_note_again(cast: Cast, role: str):
    signed = await signed_note(cast, **WITHHOLD)
    assert (await cast.patient.get(url(cast, signed))).status_code == 404
    response = await cast.by(role).post(url(cast, signed, "withhold/"), json={"withheld": False})
    assert response.status_code == 200, response.text
    assert (response.json()["withheld"], response.json()["withheld_reason"]) == (False, None)
    read = await cast.patient.get(url(cast, signed))
    assert read.status_code == 200
    assert read.json() == response.json()


@pytest.mark.parametrize("role", ["other", "patient", "stranger"])
async def test_nobody_else_shows_a_note_again(cast: Cast, role: str):
    signed = await signed_note(cast, **WITHHOLD)
    response = await cast.by(role).post(url(cast, signed, "withhold/"), json={"withheld": False})
    assert (response.status_code, response.json()) == (403, DENIED)
    assert (await cast.author.get(url(cast, signed))).json() == signed


# What a withheld signed note looks like to each role: staff read it with its reason; its patient
# gets a 404 and does not find it listed; another patient gets a 403.
READ_WITHHELD = {
    "admin": 200,
    "author": 200,
    "other": 200,
    "patient": 404,
    "stranger": 403,
}


@pytest.mark.parametrize(("role", "status"), READ_WITHHELD.items())
async def test_a_withheld_signed_note_to_each_role(cast: Cast, role: str, status: int):
    shown = await signed_note(cast)
    withheld = await signed_note(cast, **WITHHOLD)
    read = await cast.by(role).get(url(cast, withheld))
    listed = await cast.by(role).get(cast.notes)
    assert read.status_code == status
    if status == 200:
        assert read.json() == withheld
        assert read.json()["withheld_reason"] == REASON
        assert [note["id"] for note in listed.json()["results"]] == [shown["id"], withheld["id"]]
    elif status == 404:
        assert read.json() == NOT_FOUND
        assert listed.json()["count"] == 1
        assert [note["id"] for note in listed.json()["results"]] == [shown["id"]]
        assert REASON not in listed.text
    else:
        assert read.json() == DENIED
        assert (listed.status_code, listed.json()) == (403, DENIED)


# A withheld draft: its author and admins read it; another therapist does not see a draft.
READ_WITHHELD_DRAFT = {
    "admin": 200,
    "author": 200,
    "other": 404,
    "patient": 404,
    "stranger": 403,
}


@pytest.mark.parametrize(("role", "status"), READ_WITHHELD_DRAFT.items())
async def test_a_withheld_draft_to_each_role(cast: Cast, role: str, status: int):
    draft = await write_note(cast, **WITHHOLD)
    read = await cast.by(role).get(url(cast, draft))
    assert read.status_code == status
    expected = {200: draft, 404: NOT_FOUND, 403: DENIED}[status]
    assert read.json() == expected


async def test_withholding_a_signed_note_changes_nothing_clinical(cast: Cast):
    signed = await signed_note(cast)
    await cast.author.post(url(cast, signed, "addenda/"), json={"text": "Corrected."})
    before = (await cast.author.get(url(cast, signed))).json()
    withheld = (await cast.admin.post(url(cast, signed, "withhold/"), json=WITHHOLD)).json()
    kept = ("fields", "template", "status", "signed_by", "signed_at", "addenda", "created_at")
    assert {key: withheld[key] for key in kept} == {key: before[key] for key in kept}
    shown = (await cast.admin.post(url(cast, signed, "withhold/"), json={"withheld": False})).json()
    assert {key: shown[key] for key in kept} == {key: before[key] for key in kept}


async def test_withholding_again_replaces_the_reason(cast: Cast):
    signed = await signed_note(cast, **WITHHOLD)
    response = await cast.author.post(
        url(cast, signed, "withhold/"), json={"withheld": True, "withheld_reason": "Risk of harm."}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["withheld"], response.json()["withheld_reason"]) == (
        True,
        "Risk of harm.",
    )


async def test_showing_again_clears_the_reason_sent_with_it(cast: Cast):
    signed = await signed_note(cast, **WITHHOLD)
    response = await cast.author.post(
        url(cast, signed, "withhold/"), json={"withheld": False, "withheld_reason": "Ignored."}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["withheld"], response.json()["withheld_reason"]) == (False, None)


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ({}, {"withheld": ["This field is required."]}),
        ({"withheld_reason": REASON}, {"withheld": ["This field is required."]}),
        ({"withheld": None}, {"withheld": ["This field may not be null."]}),
        (
            {"withheld": "true", "withheld_reason": REASON},
            {"withheld": ["Input should be a valid boolean"]},
        ),
        (
            {"withheld": 1, "withheld_reason": REASON},
            {"withheld": ["Input should be a valid boolean"]},
        ),
        ({"withheld": True}, REASON_REQUIRED),
        ({"withheld": True, "withheld_reason": None}, REASON_REQUIRED),
        (
            {"withheld": True, "withheld_reason": ""},
            {"withheld_reason": ["This field may not be blank."]},
        ),
        (
            {"withheld": True, "withheld_reason": "   "},
            {"withheld_reason": ["This field may not be blank."]},
        ),
        (
            {"withheld": True, "withheld_reason": "x" * 501},
            {"withheld_reason": ["Ensure this field has no more than 500 characters."]},
        ),
        (
            {"withheld": True, "withheld_reason": "Risk\nof harm."},
            {
                "withheld_reason": [
                    "Line breaks, tabs and other control characters are not allowed: U+000A."
                ]
            },
        ),
        (
            {"withheld": True, "withheld_reason": "Risk\tof harm."},
            {
                "withheld_reason": [
                    "Line breaks, tabs and other control characters are not allowed: U+0009."
                ]
            },
        ),
    ],
)
async def test_a_withholding_is_checked(cast: Cast, body, answer):
    signed = await signed_note(cast)
    response = await cast.author.post(url(cast, signed, "withhold/"), json=body)
    assert (response.status_code, response.json()) == (400, answer)
    assert (await cast.author.get(url(cast, signed))).json() == signed


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("x", "x"), ("x" * 500, "x" * 500), ("  Risk of harm.  ", "Risk of harm.")],
)
async def test_a_reason_at_its_bounds(cast: Cast, sent: str, kept: str):
    signed = await signed_note(cast)
    response = await cast.author.post(
        url(cast, signed, "withhold/"), json={"withheld": True, "withheld_reason": sent}
    )
    assert response.status_code == 200, response.text
    assert response.json()["withheld_reason"] == kept


async def test_withholding_honours_if_match(cast: Cast):
    signed = await signed_note(cast)
    read = await cast.author.get(url(cast, signed))
    first = await cast.admin.post(
        url(cast, signed, "withhold/"), json=WITHHOLD, headers={"If-Match": read.headers["ETag"]}
    )
    assert first.status_code == 200, first.text
    assert first.headers["ETag"] != read.headers["ETag"]
    stale = await cast.author.post(
        url(cast, signed, "withhold/"),
        json={"withheld": False},
        headers={"If-Match": read.headers["ETag"]},
    )
    assert (stale.status_code, stale.json()) == (412, STALE)
    assert (await cast.author.get(url(cast, signed))).json()["withheld"] is True


async def test_the_reason_is_encrypted_at_rest(cast: Cast, engine):
    signed = await signed_note(cast, **WITHHOLD)
    async with engine.connect() as connection:
        stored = await connection.scalar(
            text("SELECT withheld_reason FROM progress_notes WHERE id = :i"), {"i": signed["id"]}
        )
    assert stored is not None
    assert "third party" not in stored


async def test_an_unknown_note_is_a_404(cast: Cast):
    response = await cast.author.post(f"{cast.notes}999999999/withhold/", json=WITHHOLD)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)

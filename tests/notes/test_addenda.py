"""Addenda of progress notes: only on a signed note, only by its author, signed and
timestamped when written, oldest first, held to the text rule, never changed; and the ETag they
change."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.notes.conftest import Cast, in_clinic_zone, signed_note, write_note

DENIED = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"detail": "Not found."}
ON_A_DRAFT = {
    "non_field_errors": ["Only a signed note takes addenda; change the draft itself instead."]
}
STALE = {
    "detail": "The note has changed since you read it: If-Match does not match its current ETag."
}


def addenda(cast: Cast, note: dict[str, Any]) -> str:
    return f"{cast.notes}{note['id']}/addenda/"


def url(cast: Cast, note: dict[str, Any], action: str = "") -> str:
    return f"{cast.notes}{note['id']}/{action}"


async def test_an_addendum_is_signed_and_timestamped_by_its_author(settings, cast: Cast):
    signed = await signed_note(cast)
    before = datetime.now(UTC)
    response = await cast.author.post(addenda(cast, signed), json={"text": "Corrected: 6 hours."})
    after = datetime.now(UTC)
    assert response.status_code == 201, response.text
    note = response.json()
    [addendum] = note["addenda"]
    assert set(addendum) == {"id", "author", "text", "signed_at"}
    assert (addendum["author"], addendum["text"]) == (cast.author_id, "Corrected: 6 hours.")
    signed_at = datetime.fromisoformat(addendum["signed_at"])
    assert before - timedelta(seconds=1) <= signed_at <= after
    assert in_clinic_zone(addendum["signed_at"], settings.clinic_zone)
    # The note itself is as signed: only its addenda grew.
    assert note == {**signed, "addenda": [addendum]}
    assert (await cast.author.get(url(cast, signed))).json() == note


async def test_addenda_are_listed_oldest_first_and_kept(cast: Cast):
    signed = await signed_note(cast)
    texts = ["First.", "Second.", "Third."]
    for text in texts:
        response = await cast.author.post(addenda(cast, signed), json={"text": text})
        assert response.status_code == 201, response.text
    read = (await cast.author.get(url(cast, signed))).json()
    assert [addendum["text"] for addendum in read["addenda"]] == texts
    ids = [addendum["id"] for addendum in read["addenda"]]
    assert ids == sorted(ids)
    times = [addendum["signed_at"] for addendum in read["addenda"]]
    assert times == sorted(times)
    listed = (await cast.patient.get(cast.notes)).json()["results"]
    assert [note["addenda"] for note in listed] == [read["addenda"]]


async def test_each_note_has_its_own_addenda(cast: Cast):
    first = await signed_note(cast)
    second = await signed_note(cast)
    await cast.author.post(addenda(cast, first), json={"text": "On the first."})
    await cast.author.post(addenda(cast, second), json={"text": "On the second."})
    listed = (await cast.admin.get(cast.notes)).json()["results"]
    assert [[a["text"] for a in note["addenda"]] for note in listed] == [
        ["On the first."],
        ["On the second."],
    ]


async def test_a_draft_takes_no_addendum(cast: Cast):
    draft = await write_note(cast)
    response = await cast.author.post(addenda(cast, draft), json={"text": "Too early."})
    assert (response.status_code, response.json()) == (400, ON_A_DRAFT)
    assert (await cast.author.get(url(cast, draft))).json() == draft


# Who adds an addendum: the author alone. A draft is not seen by another therapist (404).
ADD_TO_SIGNED = {
    "admin": (403, DENIED),
    "other": (403, DENIED),
    "patient": (403, DENIED),
    "stranger": (403, DENIED),
}
ADD_TO_DRAFT = {
    "admin": (403, DENIED),
    "other": (404, NOT_FOUND),
    "patient": (403, DENIED),
    "stranger": (403, DENIED),
}


@pytest.mark.parametrize(("role", "answer"), ADD_TO_SIGNED.items())
async def test_only_the_author_adds_to_a_signed_note(cast: Cast, role: str, answer):
    signed = await signed_note(cast)
    response = await cast.by(role).post(addenda(cast, signed), json={"text": "Mine."})
    assert (response.status_code, response.json()) == answer
    assert (await cast.author.get(url(cast, signed))).json()["addenda"] == []


@pytest.mark.parametrize(("role", "answer"), ADD_TO_DRAFT.items())
async def test_nobody_else_adds_to_a_draft(cast: Cast, role: str, answer):
    draft = await write_note(cast)
    response = await cast.by(role).post(addenda(cast, draft), json={"text": "Mine."})
    assert (response.status_code, response.json()) == answer


async def test_a_withheld_signed_note_takes_addenda(cast: Cast):
    signed = await signed_note(cast, withheld=True, withheld_reason="Risk of harm.")
    response = await cast.author.post(addenda(cast, signed), json={"text": "More."})
    assert response.status_code == 201, response.text
    assert (response.json()["withheld"], response.json()["withheld_reason"]) == (
        True,
        "Risk of harm.",
    )


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ({}, {"text": ["This field is required."]}),
        ({"text": ""}, {"text": ["This field may not be blank."]}),
        ({"text": " \n\t "}, {"text": ["This field may not be blank."]}),
        ({"text": "x" * 5001}, {"text": ["Ensure this field has no more than 5000 characters."]}),
        ({"text": None}, {"text": ["This field may not be null."]}),
        ({"text": 5}, {"text": ["Not a valid string."]}),
        (
            {"text": "bell \x07"},
            {
                "text": [
                    "Control characters other than line breaks and tabs are not allowed: U+0007."
                ]
            },
        ),
        ({"text": "nul \x00"}, {"text": ["Null characters are not allowed."]}),
    ],
)
async def test_an_addendum_text_is_checked(cast: Cast, body, answer):
    signed = await signed_note(cast)
    response = await cast.author.post(addenda(cast, signed), json=body)
    assert (response.status_code, response.json()) == (400, answer)
    assert (await cast.author.get(url(cast, signed))).json()["addenda"] == []


@pytest.mark.parametrize("text", ["x", "x" * 5000, "Line one.\n\tLine two.\r\nLine three."])
async def test_an_addendum_text_at_its_bounds_is_kept_as_written(cast: Cast, text: str):
    signed = await signed_note(cast)
    response = await cast.author.post(addenda(cast, signed), json={"text": text})
    assert response.status_code == 201, response.text
    assert [addendum["text"] for addendum in response.json()["addenda"]] == [text]


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_an_addendum_has_no_url_of_its_own(cast: Cast, method: str):
    signed = await signed_note(cast)
    added = (await cast.author.post(addenda(cast, signed), json={"text": "Kept."})).json()
    [addendum] = added["addenda"]
    response = await cast.author.request(
        method, f"{addenda(cast, signed)}{addendum['id']}/", json={"text": "Changed."}
    )
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert (await cast.author.get(url(cast, signed))).json() == added


async def test_the_addenda_list_takes_no_other_method(cast: Cast):
    signed = await signed_note(cast)
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = await cast.author.request(method, addenda(cast, signed))
        assert (response.status_code, response.json()) == (
            405,
            {"detail": f'Method "{method}" not allowed.'},
        ), method


# Regression: an addendum changes the note's representation, so its ETag; a write made against
# the note as read before the addendum (a co-signature, a withholding) is stale.


async def test_an_addendum_changes_the_etag(cast: Cast):
    signed = await signed_note(cast)
    read = await cast.author.get(url(cast, signed))
    added = await cast.author.post(addenda(cast, signed), json={"text": "More."})
    assert added.headers["ETag"] != read.headers["ETag"]
    again = await cast.author.get(url(cast, signed))
    assert again.headers["ETag"] == added.headers["ETag"]
    assert again.json()["updated_at"] == read.json()["updated_at"]


async def test_a_cosignature_of_the_note_as_read_before_an_addendum_is_stale(cast: Cast):
    signed = await signed_note(cast)
    read = await cast.other.get(url(cast, signed))
    await cast.author.post(addenda(cast, signed), json={"text": "Changes the picture."})
    stale = await cast.other.post(
        url(cast, signed, "cosign/"), headers={"If-Match": read.headers["ETag"]}
    )
    assert (stale.status_code, stale.json()) == (412, STALE)
    current = await cast.other.get(url(cast, signed))
    cosigned = await cast.other.post(
        url(cast, signed, "cosign/"), headers={"If-Match": current.headers["ETag"]}
    )
    assert cosigned.status_code == 200, cosigned.text
    assert cosigned.json()["cosigned_by"] == cast.other_id

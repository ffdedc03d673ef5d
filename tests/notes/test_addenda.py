"""Addenda of progress notes: only on a signed note, only by its author, signed and
timestamped when written, oldest first, held to the text rule, never changed; and the ETag they
change."""

from typing import Any

from tests.notes.conftest import Cast, signed_note

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

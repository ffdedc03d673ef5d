"""Co-signing a signed progress note: any staff member but its author, once, a signed note only;
what a co-signature records, and what it leaves alone."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.notes.conftest import SOAP, Cast, in_clinic_zone, signed_note, write_note

DENIED = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"detail": "Not found."}
OWN = {"non_field_errors": ["A co-signature must be another staff member's than the author's."]}
SIGNED_ONLY = {"non_field_errors": ["Only a signed note can be co-signed."]}
ALREADY = {"non_field_errors": ["The note is already co-signed."]}
STALE = {
    "detail": "The note has changed since you read it: If-Match does not match its current ETag."
}


def url(cast: Cast, note: dict[str, Any], action: str = "") -> str:
    return f"{cast.notes}{note['id']}/{action}"


COSIGN_SIGNED = {
    "admin": (200, None),
    "other": (200, None),
    "author": (400, OWN),
    "patient": (403, DENIED),
    "stranger": (403, DENIED),
}
COSIGN_DRAFT = {
    "admin": (400, SIGNED_ONLY),
    "author": (400, SIGNED_ONLY),
    "other": (404, NOT_FOUND),
    "patient": (403, DENIED),
    "stranger": (403, DENIED),
}


@pytest.mark.parametrize(("role", "answer"), COSIGN_SIGNED.items())
async def test_who_cosigns_a_signed_note(settings, cast: Cast, role: str, answer):
    signed = await signed_note(cast)
    before = datetime.now(UTC)
    response = await cast.by(role).post(url(cast, signed, "cosign/"))
    after = datetime.now(UTC)
    status, body = answer
    assert response.status_code == status, response.text
    stored = (await cast.author.get(url(cast, signed))).json()
    if status != 200:
        assert response.json() == body
        assert stored == signed
        return
    cosigned = response.json()
    cosigned_at = datetime.fromisoformat(cosigned["cosigned_at"])
    assert before - timedelta(seconds=1) <= cosigned_at <= after
    assert in_clinic_zone(cosigned["cosigned_at"], settings.clinic_zone)
    assert cosigned["cosigned_by"] != cast.author_id
    if role == "other":
        assert cosigned["cosigned_by"] == cast.other_id
    assert cosigned == {
        **signed,
        "cosigned_by": cosigned["cosigned_by"],
        "cosigned_at": cosigned["cosigned_at"],
        "updated_at": cosigned["updated_at"],
    }
    assert stored == cosigned


@pytest.mark.parametrize(("role", "answer"), COSIGN_DRAFT.items())
async def test_a_draft_is_not_cosigned(cast: Cast, role: str, answer):
    draft = await write_note(cast)
    response = await cast.by(role).post(url(cast, draft, "cosign/"))
    assert (response.status_code, response.json()) == answer
    assert (await cast.author.get(url(cast, draft))).json() == draft


@pytest.mark.parametrize(("first", "second"), [("other", "admin"), ("admin", "other")])
async def test_a_note_is_cosigned_once(cast: Cast, first: str, second: str):
    signed = await signed_note(cast)
    cosigned = (await cast.by(first).post(url(cast, signed, "cosign/"))).json()
    for role in (second, first):
        again = await cast.by(role).post(url(cast, signed, "cosign/"))
        assert (again.status_code, again.json()) == (400, ALREADY), role
    assert (await cast.author.get(url(cast, signed))).json() == cosigned


async def test_the_author_of_a_cosigned_note_is_told_it_is_cosigned(cast: Cast):
    signed = await signed_note(cast)
    await cast.other.post(url(cast, signed, "cosign/"))
    response = await cast.author.post(url(cast, signed, "cosign/"))
    assert (response.status_code, response.json()) == (400, ALREADY)


async def test_a_withheld_note_is_cosigned(cast: Cast):
    signed = await signed_note(cast, withheld=True, withheld_reason="Risk of harm.")
    response = await cast.other.post(url(cast, signed, "cosign/"))
    assert response.status_code == 200, response.text
    assert (response.json()["withheld"], response.json()["cosigned_by"]) == (True, cast.other_id)


async def test_a_cosigned_note_stays_final_and_takes_addenda(cast: Cast):
    signed = await signed_note(cast)
    await cast.other.post(url(cast, signed, "cosign/"))
    patched = await cast.author.patch(url(cast, signed), json={"fields": SOAP})
    assert patched.status_code == 400
    assert list(patched.json()) == ["non_field_errors"]
    added = await cast.author.post(url(cast, signed, "addenda/"), json={"text": "Later."})
    assert added.status_code == 201, added.text
    assert added.json()["cosigned_by"] == cast.other_id


async def test_cosign_honours_if_match(cast: Cast):
    signed = await signed_note(cast)
    stale = await cast.other.post(url(cast, signed, "cosign/"), headers={"If-Match": '"1"'})
    assert (stale.status_code, stale.json()) == (412, STALE)
    read = await cast.other.get(url(cast, signed))
    cosigned = await cast.other.post(
        url(cast, signed, "cosign/"), headers={"If-Match": read.headers["ETag"]}
    )
    assert cosigned.status_code == 200, cosigned.text
    assert cosigned.headers["ETag"] != read.headers["ETag"]


async def test_an_unknown_note_is_a_404(cast: Cast):
    response = await cast.other.post(f"{cast.notes}999999999/cosign/")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)

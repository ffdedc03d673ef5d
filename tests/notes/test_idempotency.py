"""Idempotency-Key on the notes' POSTs: a retry is answered as the first request was and writes
nothing twice (one note, one signature, one addendum); the key with another body is a 422."""

from typing import Any

import pytest

from tests.notes.conftest import SOAP, Cast, signed_note, write_note

KEY = {"Idempotency-Key": "note-retry-1"}
REUSED = {"detail": "This Idempotency-Key was already used for a different request."}


def url(cast: Cast, note: dict[str, Any], action: str = "") -> str:
    return f"{cast.notes}{note['id']}/{action}"


async def test_a_retried_create_writes_one_note(cast: Cast):
    body = {"template": "SOAP", "fields": SOAP}
    first = await cast.author.post(cast.notes, json=body, headers=KEY)
    again = await cast.author.post(cast.notes, json=body, headers=KEY)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert (await cast.author.get(cast.notes)).json()["count"] == 1


async def test_a_retried_signature_is_the_first_one(cast: Cast):
    note = await write_note(cast)
    first = await cast.author.post(url(cast, note, "sign/"), headers=KEY)
    again = await cast.author.post(url(cast, note, "sign/"), headers=KEY)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    without_key = await cast.author.post(url(cast, note, "sign/"))
    assert (without_key.status_code, without_key.json()) == (
        400,
        {"non_field_errors": ["The note is already signed."]},
    )


async def test_a_retried_addendum_is_added_once(cast: Cast):
    signed = await signed_note(cast)
    first = await cast.author.post(
        url(cast, signed, "addenda/"), json={"text": "Once."}, headers=KEY
    )
    again = await cast.author.post(
        url(cast, signed, "addenda/"), json={"text": "Once."}, headers=KEY
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert len((await cast.author.get(url(cast, signed))).json()["addenda"]) == 1


@pytest.mark.parametrize("action", ["addenda/", ""])
async def test_the_key_with_another_body_is_a_422(cast: Cast, action: str):
    signed = await signed_note(cast)
    path = url(cast, signed, action) if action else cast.notes
    bodies = (
        [{"text": "One."}, {"text": "Two."}]
        if action
        else [
            {"template": "SOAP", "fields": SOAP},
            {"template": "SOAP", "fields": {**SOAP, "plan": "x"}},
        ]
    )
    first = await cast.author.post(path, json=bodies[0], headers=KEY)
    assert first.status_code == 201, first.text
    other = await cast.author.post(path, json=bodies[1], headers=KEY)
    assert (other.status_code, other.json()) == (422, REUSED)

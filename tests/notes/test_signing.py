"""Signing a progress note: who signs, what a signature records, what it needs (every field
written), and that a signed note never changes again, by any write path."""

from typing import Any

import pytest

from tests.notes.conftest import SOAP, Cast, write_note

DAP = {"data": "d", "assessment": "a", "plan": "p"}
BIRP = {"behavior": "b", "intervention": "i", "response": "r", "plan": "p"}


def empty(*names: str) -> dict[str, list[str]]:
    return {"fields": [f"A note is signed with every field written; empty: {', '.join(names)}."]}


def url(cast: Cast, note: dict[str, Any], action: str = "") -> str:
    return f"{cast.notes}{note['id']}/{action}"


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

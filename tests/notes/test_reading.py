"""Which progress notes each role reads and finds listed: drafts, signed, withheld, each
combination; the list's order and pages; a note read through another appointment."""

from typing import Any

import pytest

from tests.notes.conftest import Cast, another_appointment, signed_note, write_note

DENIED = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"detail": "Not found."}
WITHHELD = {"withheld": True, "withheld_reason": "Risk of harm."}
KINDS = ("draft", "signed", "withheld draft", "withheld signed")

# Which kinds of note each role reads (200) and finds listed; the others are a 404 (and not
# listed), or a 403 for all of them (another patient).
SEES = {
    "admin": set(KINDS),
    "author": set(KINDS),
    "other": {"signed", "withheld signed"},
    "patient": {"signed"},
}


async def every_kind(cast: Cast) -> dict[str, dict[str, Any]]:
    return {
        "draft": await write_note(cast),
        "signed": await signed_note(cast),
        "withheld draft": await write_note(cast, **WITHHELD),
        "withheld signed": await signed_note(cast, **WITHHELD),
    }


@pytest.mark.parametrize(("role", "kinds"), SEES.items())
async def test_each_role_reads_and_lists_its_kinds_of_note(cast: Cast, role: str, kinds):
    notes = await every_kind(cast)
    caller = cast.by(role)
    for kind, note in notes.items():
        read = await caller.get(f"{cast.notes}{note['id']}/")
        if kind in kinds:
            assert (read.status_code, read.json()) == (200, note), kind
        else:
            assert (read.status_code, read.json()) == (404, NOT_FOUND), kind
    listed = await caller.get(cast.notes)
    assert listed.status_code == 200
    expected = [note for kind, note in notes.items() if kind in kinds]
    assert listed.json() == {
        "count": len(expected),
        "next": None,
        "previous": None,
        "results": expected,
    }


async def test_another_patient_reads_and_lists_nothing(cast: Cast):
    notes = await every_kind(cast)
    for note in notes.values():
        read = await cast.stranger.get(f"{cast.notes}{note['id']}/")
        assert (read.status_code, read.json()) == (403, DENIED)
    listed = await cast.stranger.get(cast.notes)
    assert (listed.status_code, listed.json()) == (403, DENIED)


async def test_a_patient_reads_the_note_with_its_addenda(cast: Cast):
    signed = await signed_note(cast)
    added = await cast.author.post(f"{cast.notes}{signed['id']}/addenda/", json={"text": "More."})
    read = await cast.patient.get(f"{cast.notes}{signed['id']}/")
    assert (read.status_code, read.json()) == (200, added.json())
    assert read.headers["ETag"] == added.headers["ETag"]


async def test_the_list_is_oldest_first_in_pages(cast: Cast):
    notes = [await signed_note(cast) for _ in range(3)]
    first = await cast.patient.get(cast.notes, params={"page_size": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert (page["count"], page["previous"]) == (3, None)
    assert page["results"] == notes[:2]
    second = await cast.patient.get(page["next"])
    assert second.json()["results"] == notes[2:]
    assert second.json()["next"] is None


async def test_a_note_is_read_through_its_own_appointment_only(cast: Cast, client):
    note = await signed_note(cast)
    elsewhere = await another_appointment(client, cast.patient_id, cast.author_id)
    wrong = f"/api/appointments/{elsewhere['id']}/notes/"
    for role in ("admin", "author", "other", "patient"):
        read = await cast.by(role).get(f"{wrong}{note['id']}/")
        assert (read.status_code, read.json()) == (404, NOT_FOUND), role
        listed = await cast.by(role).get(wrong)
        assert listed.json()["count"] == 0, role

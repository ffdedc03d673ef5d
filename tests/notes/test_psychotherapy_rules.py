"""Psychotherapy notes rule by rule: who writes one and about which appointment, the text's
rule, the author's own list, the author alone reading (a 403 to everyone else, and for a note
that does not exist), no change after writing, and authorizations and disclosure at their
boundaries."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.appointments.conftest import book
from tests.notes.conftest import Cast, another_appointment, in_clinic_zone

URL = "/api/psychotherapy-notes/"
SECRET = "Transference themes around the father."
DENIED = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"detail": "Not found."}
NOT_THEIRS = {"appointment": ["The appointment must be one of this patient's with you."]}
NO_PATIENT = {"patient": ["No patient has this id."]}
BLANK = ["This field may not be blank."]


def later(**delta: int) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def write(cast: Cast, role: str = "author", **overrides: Any) -> dict[str, Any]:
    body = {"patient": cast.patient_id, "appointment": cast.appointment["id"], "text": SECRET}
    response = await cast.by(role).post(URL, json={**body, **overrides})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def grant(cast: Cast, note: dict[str, Any], recipient: str, **overrides: Any):
    body = {"recipient": recipient, "purpose": "Consultation.", "expires_at": later(days=30)}
    return await cast.author.post(f"{URL}{note['id']}/authorizations/", json={**body, **overrides})


async def granted(cast: Cast, note: dict[str, Any], recipient: str) -> dict[str, Any]:
    response = await grant(cast, note, recipient)
    assert response.status_code == 201, response.text
    authorization: dict[str, Any] = response.json()
    return authorization


# Writing.


async def test_a_written_note_reads_as_the_contract_says(settings, cast: Cast):
    response = await cast.author.post(
        URL,
        json={"patient": cast.patient_id, "appointment": cast.appointment["id"], "text": SECRET},
    )
    assert response.status_code == 201, response.text
    note = response.json()
    assert response.headers["Location"] == f"http://testserver{URL}{note['id']}/"
    assert note == {
        "id": note["id"],
        "patient": cast.patient_id,
        "appointment": cast.appointment["id"],
        "author": cast.author_id,
        "text": SECRET,
        "created_at": note["created_at"],
    }
    assert in_clinic_zone(note["created_at"], settings.clinic_zone)


@pytest.mark.parametrize("role", ["admin", "patient", "stranger"])
async def test_only_a_therapist_writes_one(cast: Cast, role: str):
    response = await cast.by(role).post(URL, json={"patient": cast.patient_id, "text": SECRET})
    assert (response.status_code, response.json()) == (403, DENIED)
    assert (await cast.author.get(URL)).json()["count"] == 0


async def test_any_therapist_writes_one_of_their_own(cast: Cast):
    note = await write(cast, "other", appointment=None)
    assert (note["author"], note["appointment"]) == (cast.other_id, None)
    assert (await cast.other.get(f"{URL}{note['id']}/")).json() == note
    assert (await cast.author.get(f"{URL}{note['id']}/")).status_code == 403


async def test_the_appointment_must_be_this_patients_with_the_author(cast: Cast, client):
    stranger = (await client.get("/api/patients/")).json()["results"]
    stranger_id = next(p["id"] for p in stranger if p["id"] != cast.patient_id)
    with_other = await another_appointment(client, cast.patient_id, cast.other_id)
    of_stranger = await book(
        client,
        stranger_id,
        cast.author_id,
        start="2030-01-09T09:00:00+01:00",
        end="2030-01-09T09:50:00+01:00",
    )
    for appointment in (with_other["id"], of_stranger["id"], 999999999):
        response = await cast.author.post(
            URL, json={"patient": cast.patient_id, "appointment": appointment, "text": SECRET}
        )
        assert (response.status_code, response.json()) == (400, NOT_THEIRS), appointment
    # The other therapist's own appointment with the patient is theirs to write about.
    theirs = await write(cast, "other", appointment=with_other["id"])
    assert theirs["appointment"] == with_other["id"]


@pytest.mark.parametrize(
    ("overrides", "answer"),
    [
        ({"patient": "p_zzzzzz"}, NO_PATIENT),
        ({"patient": "zzzzzz"}, {"patient": ["String should match pattern '^p_[a-z0-9]{6}$'"]}),
        ({"patient": None}, {"patient": ["This field may not be null."]}),
        ({"appointment": 0}, {"appointment": ["Ensure this value is greater than or equal to 1."]}),
        ({"text": ""}, {"text": BLANK}),
        ({"text": " \n "}, {"text": BLANK}),
        ({"text": None}, {"text": ["This field may not be null."]}),
        ({"text": "x" * 20001}, {"text": ["Ensure this field has no more than 20000 characters."]}),
        (
            {"text": "bell \x07"},
            {
                "text": [
                    "Control characters other than line breaks and tabs are not allowed: U+0007."
                ]
            },
        ),
    ],
)
async def test_a_new_note_is_checked(cast: Cast, overrides, answer):
    body = {"patient": cast.patient_id, "appointment": None, "text": SECRET, **overrides}
    response = await cast.author.post(URL, json=body)
    assert (response.status_code, response.json()) == (400, answer)
    assert (await cast.author.get(URL)).json()["count"] == 0


@pytest.mark.parametrize("value", ["x", "x" * 20000, "Line one.\n\tLine two.\r\nThree."])
async def test_a_text_at_its_bounds_is_kept_as_written(cast: Cast, value: str):
    note = await write(cast, text=value)
    assert note["text"] == value


async def test_a_deleted_patient_takes_no_note_and_their_notes_are_gone(cast: Cast):
    note = await write(cast)
    assert (await cast.admin.delete(f"/api/patients/{cast.patient_id}/")).status_code == 204
    response = await cast.author.post(URL, json={"patient": cast.patient_id, "text": SECRET})
    assert (response.status_code, response.json()) == (400, NO_PATIENT)
    read = await cast.author.get(f"{URL}{note['id']}/")
    assert (read.status_code, read.json()) == (403, DENIED)
    assert (await cast.author.get(URL)).json()["count"] == 0


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_a_note_never_changes(cast: Cast, method: str):
    note = await write(cast)
    response = await cast.author.request(method, f"{URL}{note['id']}/", json={"text": "Changed."})
    assert (response.status_code, response.json()) == (
        405,
        {"detail": f'Method "{method}" not allowed.'},
    )
    assert (await cast.author.get(f"{URL}{note['id']}/")).json() == note


# The author's own list.


async def test_the_list_is_the_authors_own_newest_first(cast: Cast, client):
    first = await write(cast)
    second = await write(cast, appointment=None)
    others = await write(cast, "other", appointment=None)
    listed = await cast.author.get(URL)
    assert listed.json() == {"count": 2, "next": None, "previous": None, "results": [second, first]}
    assert (await cast.other.get(URL)).json()["results"] == [others]
    paged = (await cast.author.get(URL, params={"page_size": 1})).json()
    assert (paged["count"], paged["results"]) == (2, [second])
    assert (await cast.author.get(paged["next"])).json()["results"] == [first]


async def test_the_list_by_patient(cast: Cast, client):
    note = await write(cast)
    stranger = next(
        p["id"]
        for p in (await client.get("/api/patients/")).json()["results"]
        if p["id"] != cast.patient_id
    )
    await write(cast, patient=stranger, appointment=None)
    mine = await cast.author.get(URL, params={"patient": cast.patient_id})
    assert mine.json()["results"] == [note]
    none = await cast.author.get(URL, params={"patient": "p_zzzzzz"})
    assert none.json() == {"count": 0, "next": None, "previous": None, "results": []}
    bad = await cast.author.get(URL, params={"patient": "x"})
    assert (bad.status_code, bad.json()) == (
        400,
        {"patient": ["String should match pattern '^p_[a-z0-9]{6}$'"]},
    )


@pytest.mark.parametrize("role", ["admin", "patient", "stranger"])
async def test_no_list_but_a_therapists(cast: Cast, role: str):
    await write(cast)
    for params in ({}, {"patient": cast.patient_id}):
        response = await cast.by(role).get(URL, params=params)
        assert (response.status_code, response.json()) == (403, DENIED), params


# Authorizations.


async def test_an_authorization_reads_as_the_contract_says(cast: Cast):
    note = await write(cast)
    expires_at = later(days=30)
    response = await grant(cast, note, cast.other_name, expires_at=expires_at)
    assert response.status_code == 201, response.text
    authorization = response.json()
    assert authorization == {
        "id": authorization["id"],
        "note": note["id"],
        "granted_by": cast.author_id,
        "recipient": cast.other_name,
        "purpose": "Consultation.",
        "expires_at": authorization["expires_at"],
        "created_at": authorization["created_at"],
        "revoked_at": None,
        "revoked_by": None,
    }
    assert datetime.fromisoformat(authorization["expires_at"]) == datetime.fromisoformat(expires_at)


@pytest.mark.parametrize(
    ("overrides", "answer"),
    [
        (
            {"recipient": "nobody-such"},
            {"recipient": ["No active staff member has this username."]},
        ),
        ({"recipient": ""}, {"recipient": BLANK}),
        (
            {"recipient": "x" * 151},
            {"recipient": ["Ensure this field has no more than 150 characters."]},
        ),
        ({"purpose": ""}, {"purpose": BLANK}),
        (
            {"purpose": "x" * 501},
            {"purpose": ["Ensure this field has no more than 500 characters."]},
        ),
        (
            {"purpose": "Consult\nation."},
            {
                "purpose": [
                    "Line breaks, tabs and other control characters are not allowed: U+000A."
                ]
            },
        ),
        ({"expires_at": later(seconds=-5)}, {"expires_at": ["The expiry must be in the future."]}),
        ({"expires_at": None}, {"expires_at": ["This field may not be null."]}),
    ],
)
async def test_an_authorization_is_checked(cast: Cast, overrides, answer):
    note = await write(cast)
    sent = {"recipient": cast.other_name, **overrides}
    response = await grant(cast, note, **sent)
    assert (response.status_code, response.json()) == (400, answer)
    assert (await cast.author.get(f"{URL}{note['id']}/authorizations/")).json()["count"] == 0


async def test_the_recipient_is_another_active_staff_member(cast: Cast, engine):
    note = await write(cast)
    own = await grant(cast, note, cast.author_name)
    assert (own.status_code, own.json()) == (
        400,
        {"recipient": ["The recipient must be another staff member than the author."]},
    )
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE staff SET is_active = false WHERE id = :i"), {"i": cast.other_id}
        )
    inactive = await grant(cast, note, cast.other_name)
    assert (inactive.status_code, inactive.json()) == (
        400,
        {"recipient": ["No active staff member has this username."]},
    )
    admin = await grant(cast, note, "admin")
    assert admin.status_code == 201, admin.text
    assert admin.json()["recipient"] == "admin"


async def test_a_purpose_at_its_bound(cast: Cast):
    note = await write(cast)
    response = await grant(cast, note, cast.other_name, purpose="x" * 500)
    assert response.status_code == 201, response.text
    assert response.json()["purpose"] == "x" * 500


# Disclosure: the recipient of an unexpired, unrevoked authorization of this very note.


async def test_the_recipient_reads_the_note_and_its_authorization(cast: Cast):
    note = await write(cast)
    authorization = await granted(cast, note, cast.other_name)
    response = await cast.other.get(
        f"{URL}{note['id']}/disclosure/", params={"authorization": authorization["id"]}
    )
    assert (response.status_code, response.json()) == (
        200,
        {"note": note, "authorization": authorization},
    )


async def test_a_disclosure_needs_an_authorization_naming_the_caller(cast: Cast):
    note = await write(cast)
    for_admin = await granted(cast, note, "admin")
    disclosure = f"{URL}{note['id']}/disclosure/"
    without = await cast.other.get(disclosure)
    assert (without.status_code, without.json()) == (403, DENIED)
    others = await cast.other.get(disclosure, params={"authorization": for_admin["id"]})
    assert (others.status_code, others.json()) == (403, DENIED)
    unknown = await cast.other.get(disclosure, params={"authorization": 999999999})
    assert (unknown.status_code, unknown.json()) == (403, DENIED)
    author = await cast.author.get(disclosure, params={"authorization": for_admin["id"]})
    assert (author.status_code, author.json()) == (403, DENIED)
    malformed = await cast.other.get(disclosure, params={"authorization": 0})
    assert (malformed.status_code, malformed.json()) == (
        400,
        {"authorization": ["Ensure this value is greater than or equal to 1."]},
    )


async def test_an_authorization_discloses_its_own_note_only(cast: Cast):
    note = await write(cast)
    other_note = await write(cast)
    authorization = await granted(cast, note, cast.other_name)
    response = await cast.other.get(
        f"{URL}{other_note['id']}/disclosure/", params={"authorization": authorization["id"]}
    )
    assert (response.status_code, response.json()) == (403, DENIED)


@pytest.mark.parametrize(("seconds", "status"), [(-1, 403), (60, 200)])
async def test_an_authorization_discloses_until_it_expires(cast: Cast, engine, seconds, status):
    note = await write(cast)
    authorization = await granted(cast, note, cast.other_name)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE psychotherapy_note_authorizations "
                "SET expires_at = now() + make_interval(secs => :s) WHERE id = :i"
            ),
            {"s": seconds, "i": authorization["id"]},
        )
    response = await cast.other.get(
        f"{URL}{note['id']}/disclosure/", params={"authorization": authorization["id"]}
    )
    assert response.status_code == status
    if status == 403:
        assert response.json() == DENIED


async def test_a_revoked_authorization_discloses_nothing(cast: Cast):
    note = await write(cast)
    authorization = await granted(cast, note, cast.other_name)
    base = f"{URL}{note['id']}/authorizations/{authorization['id']}/revoke/"
    revoked = await cast.author.post(base)
    assert revoked.status_code == 200, revoked.text
    response = await cast.other.get(
        f"{URL}{note['id']}/disclosure/", params={"authorization": authorization["id"]}
    )
    assert (response.status_code, response.json()) == (403, DENIED)


async def test_a_deleted_patients_note_is_disclosed_to_nobody(cast: Cast):
    note = await write(cast)
    authorization = await granted(cast, note, cast.other_name)
    assert (await cast.admin.delete(f"/api/patients/{cast.patient_id}/")).status_code == 204
    response = await cast.other.get(
        f"{URL}{note['id']}/disclosure/", params={"authorization": authorization["id"]}
    )
    assert (response.status_code, response.json()) == (403, DENIED)


async def test_a_disclosure_never_opens_the_direct_read(cast: Cast):
    note = await write(cast)
    await granted(cast, note, cast.other_name)
    for path in ("", "authorizations/"):
        response = await cast.other.get(f"{URL}{note['id']}/{path}")
        assert (response.status_code, response.json()) == (403, DENIED), path
    assert (await cast.other.get(URL)).json()["count"] == 0

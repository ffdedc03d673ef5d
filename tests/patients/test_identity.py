"""A patient's identity fields (issue 22): an e-mail address names one account, whatever its
case; a phone number is stored in one canonical form (E.164); a clash tells a patient nothing of
whose the number or address is, and tells staff whom to look up or restore."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.commands import create_staff
from app.core.config import Settings
from app.patients.repository import EMAIL_NOT_USABLE, PHONE_NOT_USABLE
from tests.commands import run_cli
from tests.factories import create_patient, patient_payload

URL = "/api/patients/"
PASSWORD = "correct-horse"  # the factories' patients'

PatientClient = Callable[[dict[str, Any]], Awaitable[httpx.AsyncClient]]


def detail(patient_id: str) -> str:
    return f"{URL}{patient_id}/"


@pytest.fixture
async def as_patient(app: FastAPI, login: Any) -> AsyncIterator[PatientClient]:
    """A client logged in as a patient."""
    opened: list[httpx.AsyncClient] = []

    async def make(patient: dict[str, Any]) -> httpx.AsyncClient:
        token = await login(patient["id"], PASSWORD)
        opened.append(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://testserver",
                headers={"Authorization": f"Bearer {token}"},
            )
        )
        return opened[-1]

    yield make
    for each in opened:
        await each.aclose()


async def victim(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create_patient(
        client,
        first_name="Zebediah",
        last_name="Quimby",
        phone_no="+14155550100",
        email="victim@example.com",
    )


def assert_tells_nothing_of(response: httpx.Response, other: dict[str, Any]) -> None:
    assert response.status_code == 400, response.text
    for value in (other["id"], other["first_name"], other["last_name"], "already"):
        assert value not in response.text


# --- e-mail addresses -------------------------------------------------------------------------


async def test_a_patient_cannot_take_another_patients_address_in_other_letters(client, as_patient):
    """The reproduction: X sets VICTIM@example.com; refused, and X is not told whose it is."""
    other = await victim(client)
    attacker = await create_patient(client)
    response = await (await as_patient(attacker)).patch(
        detail(attacker["id"]), json={"email": "VICTIM@example.com"}
    )
    assert response.json() == {"email": [EMAIL_NOT_USABLE]}
    assert_tells_nothing_of(response, other)
    assert (await client.get(detail(attacker["id"]))).json()["email"] is None


@pytest.mark.parametrize("address", ["Victim@Example.com", "victim@example.com"])
async def test_staff_are_told_which_patient_has_the_address(client, address):
    other = await victim(client)
    response = await client.post(URL, json=patient_payload(email=address))
    assert response.status_code == 400
    assert response.json() == {"email": [f"Patient {other['id']} already has this e-mail address."]}
    patient = await create_patient(client)
    response = await client.patch(detail(patient["id"]), json={"email": address})
    assert response.json() == {"email": [f"Patient {other['id']} already has this e-mail address."]}
    assert other["first_name"] not in response.text


async def test_a_deleted_patient_keeps_their_address_and_staff_may_restore_them(client, as_patient):
    other = await victim(client)
    assert (await client.delete(detail(other["id"]))).status_code == 204
    response = await client.post(URL, json=patient_payload(email="VICTIM@example.com"))
    [message] = response.json()["email"]
    assert message.startswith(f"Patient {other['id']} has this e-mail address: they were deleted")
    assert "restore" in message
    patient = await create_patient(client)
    response = await (await as_patient(patient)).patch(
        detail(patient["id"]), json={"email": "victim@EXAMPLE.com"}
    )
    assert response.json() == {"email": [EMAIL_NOT_USABLE]}
    restored = await client.post(f"/api/deleted-patients/{other['id']}/restore/", json={})
    assert restored.status_code == 200, restored.text


async def test_keeping_or_recasing_ones_own_address_is_no_clash(client, as_patient):
    patient = await create_patient(client, email="own@example.com")
    response = await (await as_patient(patient)).patch(
        detail(patient["id"]), json={"email": "OWN@example.com"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "OWN@example.com"


async def test_an_address_given_up_can_be_taken(client):
    first = await create_patient(client, email="moving@example.com")
    second = await create_patient(client)
    assert (await client.patch(detail(first["id"]), json={"email": None})).status_code == 200
    taken = await client.patch(detail(second["id"]), json={"email": "Moving@example.com"})
    assert taken.status_code == 200, taken.text


async def test_a_patient_and_a_staff_member_never_share_an_address(
    client, as_patient, settings: Settings, engine: AsyncEngine
):
    await create_staff(settings, username="rivera", password="staff-password-1", role="admin")
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE staff SET email = 'rivera@example.org' WHERE username = 'rivera'")
        )
    patient = await create_patient(client)
    response = await (await as_patient(patient)).patch(
        detail(patient["id"]), json={"email": "RIVERA@example.org"}
    )
    assert response.json() == {"email": [EMAIL_NOT_USABLE]}
    response = await client.patch(detail(patient["id"]), json={"email": "rivera@example.org"})
    assert response.json() == {
        "email": ["A staff member has this e-mail address; an address names one account only."]
    }
    # And the other way: the trigger of migration 0015 refuses a staff address a patient has.
    await client.patch(detail(patient["id"]), json={"email": "jane@example.org"})
    async with engine.begin() as connection:
        with pytest.raises(IntegrityError, match="a patient has this e-mail address"):
            await connection.execute(
                text("UPDATE staff SET email = 'Jane@Example.org' WHERE username = 'rivera'")
            )


async def _redefine_email_exemption(app: FastAPI, engine: AsyncEngine, exempted: str) -> None:
    """The exemption function as migration 0015 would have written it for `exempted`, and the
    index rebuilt; the connections are replaced, as a migration precedes the service's start:
    an open connection keeps the index's expression with the old function inlined (PostgreSQL
    15 does not rebuild it when the index is reindexed)."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE OR REPLACE FUNCTION patients_email_exemption(patient_id varchar) "
                "RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT CASE WHEN "
                f"patient_id = ANY (ARRAY[{exempted}]::text[]) THEN patient_id ELSE '' END $$"
            )
        )
        await connection.execute(text("REINDEX INDEX uq_patients_lower_email"))
    await engine.dispose()
    await app.state.database.pool.expire_connections()


async def test_patients_who_shared_an_address_before_0015_keep_it_and_stay_editable(
    app: FastAPI, client, engine: AsyncEngine
):
    """Migration 0015 exempts all but the earliest of such patients from the unique index (its
    function lists their ids); they keep the address, nobody else can take it."""
    first = await create_patient(client, email="family@example.com")
    second = await create_patient(client)
    await _redefine_email_exemption(app, engine, f"'{second['id']}'")
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE patients SET email = 'Family@example.com' WHERE id = :id"),
            {"id": second["id"]},
        )
    try:
        kept = await client.put(
            detail(second["id"]),
            json=patient_payload(phone_no=second["phone_no"], email="FAMILY@example.com"),
        )
        assert kept.status_code == 200, kept.text
        third = await create_patient(client)
        taken = await client.patch(detail(third["id"]), json={"email": "family@example.com"})
        assert taken.status_code == 400
        holder = min(first["id"], second["id"])  # of two holders, the first by id is named
        assert taken.json() == {"email": [f"Patient {holder} already has this e-mail address."]}
    finally:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE patients SET email = NULL WHERE id = :id"), {"id": second["id"]}
            )
        await _redefine_email_exemption(app, engine, "")


async def test_a_patient_who_shared_an_address_with_staff_before_0015_stays_editable(
    client, settings: Settings, engine: AsyncEngine
):
    patient = await create_patient(client, email="shared@example.org")
    await create_staff(settings, username="rivera", password="staff-password-1", role="admin")
    async with engine.begin() as connection:  # as a row from before the trigger
        await connection.execute(text("SET LOCAL session_replication_role = replica"))
        await connection.execute(
            text("UPDATE staff SET email = 'SHARED@example.org' WHERE username = 'rivera'")
        )
    body = patient_payload(phone_no=patient["phone_no"], email="shared@example.org")
    kept = await client.put(detail(patient["id"]), json=body)
    assert kept.status_code == 200, kept.text
    other = await create_patient(client)
    taken = await client.patch(detail(other["id"]), json={"email": "shared@example.org"})
    assert taken.status_code == 400
    assert taken.json() == {  # a patient is named before a staff member
        "email": [f"Patient {patient['id']} already has this e-mail address."]
    }


async def test_the_database_refuses_a_second_holder_of_an_address(client, engine: AsyncEngine):
    """Should two writes race past the service's look: uq_patients_lower_email."""
    await victim(client)
    patient = await create_patient(client)
    async with engine.begin() as connection:
        with pytest.raises(IntegrityError, match="uq_patients_lower_email"):
            await connection.execute(
                text("UPDATE patients SET email = 'VICTIM@example.COM' WHERE id = :id"),
                {"id": patient["id"]},
            )


# --- phone numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["14155550100", "4155550100", " +14155550100"])
async def test_one_number_however_typed_is_one_patient(client, typed):
    other = await victim(client)
    response = await client.post(URL, json=patient_payload(phone_no=typed))
    assert response.json() == {
        "phone_no": [f"Patient {other['id']} already has this phone number."]
    }


async def test_numbers_are_stored_and_answered_canonical(client):
    patient = await create_patient(client, phone_no="4155550123")
    assert patient["phone_no"] == "+14155550123"
    response = await client.patch(detail(patient["id"]), json={"phone_no": "011442071838750"})
    assert response.json()["phone_no"] == "+442071838750"
    # A number no country has is still accepted, as "+" and its digits.
    response = await client.patch(detail(patient["id"]), json={"phone_no": "999123456789"})
    assert response.status_code == 200, response.text
    assert response.json()["phone_no"] == "+999123456789"


async def test_a_refused_number_with_a_new_password_changes_nothing(client, login):
    """The write that ends the patient's sessions runs in a transaction: refused, it is rolled
    back whole before staff are told whose the number is."""
    other = await victim(client)
    patient = await create_patient(client)
    token = await login(patient["id"], PASSWORD)
    response = await client.patch(
        detail(patient["id"]), json={"password": "a-new-Passphrase-9", "phone_no": "4155550100"}
    )
    assert response.json() == {
        "phone_no": [f"Patient {other['id']} already has this phone number."]
    }
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get(detail(patient["id"]), headers=headers)).status_code == 200
    assert await login(patient["id"], PASSWORD)


async def test_a_patient_is_not_told_whose_number_it_is_even_a_deleted_ones(client, as_patient):
    other = await victim(client)
    patient = await create_patient(client)
    caller = await as_patient(patient)
    response = await caller.patch(detail(patient["id"]), json={"phone_no": "4155550100"})
    assert response.json() == {"phone_no": [PHONE_NOT_USABLE]}
    assert_tells_nothing_of(response, other)
    assert (await client.delete(detail(other["id"]))).status_code == 204
    deleted = await caller.patch(detail(patient["id"]), json={"phone_no": "+14155550100"})
    assert deleted.json() == response.json()
    # Staff are told it is a deleted patient's, whom an admin may restore.
    staff = await client.patch(detail(patient["id"]), json={"phone_no": "14155550100"})
    [message] = staff.json()["phone_no"]
    assert message.startswith(f"Patient {other['id']} has this phone number: they were deleted")


async def test_a_record_changed_to_its_own_number_in_another_form_changes_nothing(client):
    patient = await create_patient(client, phone_no="+14155550177")
    response = await client.patch(detail(patient["id"]), json={"phone_no": "4155550177"})
    assert response.status_code == 200, response.text
    history = (await client.get(f"{detail(patient['id'])}history/")).json()["results"]
    assert history[0]["changed"] == []


async def test_the_history_keeps_the_canonical_form(client):
    patient = await create_patient(client, phone_no="4155550178")
    changed = await client.patch(detail(patient["id"]), json={"phone_no": "4155550179"})
    assert changed.status_code == 200
    [latest, _first] = (await client.get(f"{detail(patient['id'])}history/")).json()["results"]
    version = (await client.get(latest["url"].removeprefix("http://testserver"))).json()
    assert version["changes"]["phone_no"] == {"before": "+14155550178", "after": "+14155550179"}


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("(415) 555", True),
        ("415-555-0123", True),
        ("+1 415 555 0123", True),
        ("011 44 20 7183 8750", True),  # the canonical form's digits, +442071838750
        ("+44 020 7183 8750", True),
        ("7183", True),
        ("555 0999", False),
    ],
)
async def test_the_phone_search_finds_partial_and_whole_numbers_in_any_form(client, query, found):
    us = await create_patient(client, phone_no="4155550123")
    uk = await create_patient(client, phone_no="+442071838750")
    response = await client.get(URL, params={"phone": query})
    ids = {patient["id"] for patient in response.json()["results"]}
    expected = {us["id"]} if "415" in query else {uk["id"]} if found else set()
    assert ids == expected


async def test_the_phone_search_uses_the_trigram_index(client, engine: AsyncEngine):
    from app.patients.repository import filtered_ids
    from app.patients.schemas import PatientListQuery

    for query in ("(415) 555", "011 44 20 7183 8750"):
        statement = filtered_ids(PatientListQuery(phone=query))
        compiled = statement.compile(engine.sync_engine, compile_kwargs={"literal_binds": True})
        async with engine.begin() as connection:
            await connection.execute(text("SET LOCAL enable_seqscan = off"))
            plan = (await connection.execute(text(f"EXPLAIN {compiled}"))).scalars().all()
        assert any("ix_patients_phone_no_trgm" in line for line in plan), plan


# --- what migration 0015 left as it was ----------------------------------------------------


async def test_identity_clashes_lists_accounts_by_id_only(client, cli_env, engine: AsyncEngine):
    first = await create_patient(client, phone_no="+14155550190", email="one@example.com")
    second = await create_patient(client, phone_no="+14155550191", email="two@example.com")
    clean = run_cli(cli_env, "identity-clashes")
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.strip() == "No clashes."
    async with engine.begin() as connection:  # as rows from before migration 0015 may be
        await connection.execute(text("DROP INDEX uq_patients_lower_email"))
        await connection.execute(
            text(
                "UPDATE patients SET phone_no = '14155550190', email = 'ONE@example.com' "
                "WHERE id = :id"
            ),
            {"id": second["id"]},
        )
    try:
        result = run_cli(cli_env, "identity-clashes")
    finally:
        async with engine.begin() as connection:
            await connection.execute(
                text("DELETE FROM patients WHERE id = :id"), {"id": second["id"]}
            )
            await connection.execute(
                text(
                    "CREATE UNIQUE INDEX uq_patients_lower_email "
                    "ON patients (lower(email), patients_email_exemption(id))"
                )
            )
    assert result.returncode == 0, result.stderr
    pair = ", ".join(sorted([first["id"], second["id"]]))
    assert result.stdout.splitlines() == [f"phone number: {pair}", f"e-mail address: {pair}"]
    assert "example" not in result.stdout
    assert "555" not in result.stdout

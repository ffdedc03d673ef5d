"""PHI at rest: the SSN and the medical text are ciphertext in the table, plaintext in the API."""

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.crypto import DecryptionError, Keyring
from app.db.types import current_keyring, use_keyring
from app.patients.commands import rotate_keys
from tests.conftest import TEST_PHI_KEY
from tests.factories import create_patient

SSN = "078-05-1120"
ALLERGIES = "Severe penicillin allergy; takes sertraline 50 mg daily"
OLD_ID = TEST_PHI_KEY.partition(":")[0]
NEW_ID = "rotated2"
NEW_KEY = f"{NEW_ID}:" + base64.b64encode(b"n" * 32).decode()


@pytest.fixture(autouse=True)
def restore_keyring() -> Iterator[None]:
    """Rotation swaps the process's keyring; every other test expects the session's one."""
    try:
        yield
    finally:
        use_keyring(Keyring.parse(TEST_PHI_KEY))


async def raw_row(engine: AsyncEngine, patient_id: str) -> dict[str, Any]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT ssn, allergies_and_medication FROM patients WHERE id = :id"),
                {"id": patient_id},
            )
        ).one()
    return dict(row._mapping)


async def raw_json(engine: AsyncEngine, patient_id: str) -> str:
    async with engine.connect() as connection:
        value = await connection.scalar(
            text("SELECT row_to_json(p)::text FROM patients p WHERE id = :id"), {"id": patient_id}
        )
    assert isinstance(value, str)
    return value


async def all_raw_rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT id, ssn, allergies_and_medication FROM patients ORDER BY id")
        )
        return [dict(row._mapping) for row in rows]


def assert_no_plaintext(blob: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in blob
    # Not even the parts: the SSN's digit groups, the medical text's words.
    assert "0780511" not in blob.replace("-", "")
    assert "penicillin" not in blob.lower()
    assert "sertraline" not in blob.lower()


async def test_phi_is_ciphertext_in_the_table_and_plaintext_in_the_api(client, engine):
    patient = await create_patient(client, ssn=SSN, allergies_and_medication=ALLERGIES)
    assert patient["ssn"] == SSN
    assert patient["allergies_and_medication"] == ALLERGIES

    row = await raw_row(engine, patient["id"])
    assert row["ssn"].startswith(f"v1:{OLD_ID}:")
    assert row["allergies_and_medication"].startswith(f"v1:{OLD_ID}:")
    assert_no_plaintext(str(row), SSN, ALLERGIES)
    assert_no_plaintext(await raw_json(engine, patient["id"]), SSN, ALLERGIES)

    read = (await client.get(f"/api/patients/{patient['id']}/")).json()
    assert read["ssn"] == SSN
    assert read["allergies_and_medication"] == ALLERGIES
    listed = (await client.get("/api/patients/")).json()["results"]
    assert [(p["ssn"], p["allergies_and_medication"]) for p in listed] == [(SSN, ALLERGIES)]


async def test_the_same_value_is_stored_differently_for_two_patients(client, engine):
    first = await create_patient(client, ssn=SSN, allergies_and_medication=ALLERGIES)
    second = await create_patient(client, ssn=SSN, allergies_and_medication=ALLERGIES)
    first_row = await raw_row(engine, first["id"])
    second_row = await raw_row(engine, second["id"])
    assert first_row["ssn"] != second_row["ssn"]
    assert first_row["allergies_and_medication"] != second_row["allergies_and_medication"]


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_updated_phi_is_stored_encrypted(client, engine, method):
    patient = await create_patient(client)
    body = {key: patient[key] for key in ("first_name", "last_name", "phone_no", "sex")}
    body |= {"date_of_birth": patient["date_of_birth"]}
    body |= {"ssn": SSN, "allergies_and_medication": ALLERGIES}
    response = await client.request(method, f"/api/patients/{patient['id']}/", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["ssn"] == SSN

    assert_no_plaintext(await raw_json(engine, patient["id"]), SSN, ALLERGIES)
    row = await raw_row(engine, patient["id"])
    assert row["ssn"].startswith(f"v1:{OLD_ID}:")


async def test_null_ssn_is_stored_as_null_and_empty_text_is_still_encrypted(client, engine):
    patient = await create_patient(client, ssn=None, allergies_and_medication="")
    row = await raw_row(engine, patient["id"])
    assert row["ssn"] is None
    assert row["allergies_and_medication"].startswith(f"v1:{OLD_ID}:")
    read = (await client.get(f"/api/patients/{patient['id']}/")).json()
    assert read["ssn"] is None
    assert read["allergies_and_medication"] == ""


async def test_a_ciphertext_copied_into_another_column_is_not_shown(client, engine):
    patient = await create_patient(client, ssn=SSN, allergies_and_medication=ALLERGIES)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE patients SET allergies_and_medication = ssn WHERE id = :id"),
            {"id": patient["id"]},
        )
    response = await client.get(f"/api/patients/{patient['id']}/")
    assert response.status_code == 500  # the row was tampered with: fail closed
    assert response.json() == {"detail": "A server error occurred."}
    assert SSN not in response.text


def rotated_settings(settings: Settings) -> Settings:
    keys = f"{NEW_KEY},{TEST_PHI_KEY}"
    return settings.model_copy(update={"phi_encryption_keys": SecretStr(keys)})


async def test_rotate_keys_reencrypts_every_value_under_the_new_key(client, engine, settings):
    patients = [
        await create_patient(client, ssn=f"078-05-{1120 + n}", allergies_and_medication=f"Med {n}")
        for n in range(4)
    ]
    without_ssn = await create_patient(client, ssn=None, allergies_and_medication="Nothing known")
    patients.append(without_ssn)
    before = await all_raw_rows(engine)
    assert all(row["allergies_and_medication"].startswith(f"v1:{OLD_ID}:") for row in before)

    count = await rotate_keys(rotated_settings(settings), batch_size=2)
    assert count == len(patients)

    after = await all_raw_rows(engine)
    assert [row["id"] for row in after] == [row["id"] for row in before]
    old_only = Keyring.parse(TEST_PHI_KEY)
    new_only = Keyring.parse(NEW_KEY)
    for old_row, row in zip(before, after, strict=True):
        assert row["allergies_and_medication"].startswith(f"v1:{NEW_ID}:")
        assert row["allergies_and_medication"] != old_row["allergies_and_medication"]
        with pytest.raises(DecryptionError):
            old_only.decrypt(
                row["allergies_and_medication"], context="patients.allergies_and_medication"
            )
        if row["id"] == without_ssn["id"]:
            assert row["ssn"] is None
        else:
            assert row["ssn"].startswith(f"v1:{NEW_ID}:")
            new_only.decrypt(row["ssn"], context="patients.ssn")

    assert await rotate_keys(rotated_settings(settings)) == 0
    assert await all_raw_rows(engine) == after

    # The API, now using the rotated keyring, still reads every value.
    assert current_keyring().primary_id == NEW_ID
    for patient in patients:
        read = (await client.get(f"/api/patients/{patient['id']}/")).json()
        assert read["ssn"] == patient["ssn"]
        assert read["allergies_and_medication"] == patient["allergies_and_medication"]


async def test_rotate_keys_with_one_stale_column_and_an_empty_table(client, engine, settings):
    assert await rotate_keys(rotated_settings(settings)) == 0

    use_keyring(Keyring.parse(TEST_PHI_KEY))  # the API writes under the old key again
    patient = await create_patient(client, ssn=SSN, allergies_and_medication=ALLERGIES)
    assert await rotate_keys(rotated_settings(settings)) == 1
    # A value under an old key in one column only is still found and rotated.
    stale = Keyring.parse(TEST_PHI_KEY).encrypt(SSN, context="patients.ssn")
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE patients SET ssn = :ssn WHERE id = :id"),
            {"ssn": stale, "id": patient["id"]},
        )
    assert await rotate_keys(rotated_settings(settings)) == 1
    row = await raw_row(engine, patient["id"])
    assert row["ssn"].startswith(f"v1:{NEW_ID}:")
    assert Keyring.parse(NEW_KEY).decrypt(row["ssn"], context="patients.ssn") == SSN


async def test_rotate_keys_reencrypts_the_record_history_too(client, engine, settings):
    patient = await create_patient(client, ssn=SSN, allergies_and_medication=ALLERGIES)
    changed = await client.patch(f"/api/patients/{patient['id']}/", json={"ssn": "078-05-1121"})
    await rotate_keys(rotated_settings(settings), batch_size=1)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT ssn, allergies_and_medication FROM patient_versions "
                    "WHERE patient_id = :id"
                ),
                {"id": patient["id"]},
            )
        ).all()
    assert len(rows) == 2
    for row in rows:
        assert row.ssn.startswith(f"v1:{NEW_ID}:")
        assert row.allergies_and_medication.startswith(f"v1:{NEW_ID}:")
    version = changed.headers["ETag"].strip('"')
    read = (await client.get(f"/api/patients/{patient['id']}/history/{version}/")).json()
    assert read["record"]["ssn"] == "078-05-1121"
    assert read["changes"]["ssn"] == {"before": SSN, "after": "078-05-1121"}


# --- therapy session notes --------------------------------------------------------------------

NOTES = "Discussed panic attacks at work; exposure homework agreed"
NOTES_CONTEXT = "patients.sessions.notes"


async def raw_sessions(engine: AsyncEngine, table: str, key: str, value: str) -> list[Any]:
    """Each row's sessions as stored (JSON text parsed), for the rows whose `key` is `value`."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(f"SELECT sessions::text FROM {table} WHERE {key} = :v ORDER BY 1"),  # noqa: S608
            {"v": value},
        )
        return [json.loads(row[0]) for row in rows]


async def add_session(client, patient_id: str, notes: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"date": "2024-05-01T14:30:00Z", "therapist": "Dr. Rivera"}
    if notes is not None:
        body["notes"] = notes
    response = await client.post(f"/api/patients/{patient_id}/add_session/", json=body)
    assert response.status_code == 200, response.text
    patient: dict[str, Any] = response.json()
    return patient


async def test_session_notes_are_ciphertext_in_the_row_and_every_version(client, engine):
    patient = await create_patient(client)
    await add_session(client, patient["id"], NOTES)
    answered = await add_session(client, patient["id"], None)
    assert [s["notes"] for s in answered["sessions"]] == [NOTES, None]

    [stored] = await raw_sessions(engine, "patients", "id", patient["id"])
    assert stored[0]["notes"].startswith(f"v1:{OLD_ID}:")
    assert stored[1]["notes"] is None
    assert stored[0]["therapist"] == "Dr. Rivera"  # only the notes are PHI
    keyring = Keyring.parse(TEST_PHI_KEY)
    assert keyring.decrypt(stored[0]["notes"], context=NOTES_CONTEXT) == NOTES
    versions = await raw_sessions(engine, "patient_versions", "patient_id", patient["id"])
    assert len(versions) == 3
    for blob in [await raw_json(engine, patient["id"]), json.dumps(versions)]:
        assert "panic" not in blob
        assert "exposure" not in blob

    read = (await client.get(f"/api/patients/{patient['id']}/")).json()
    assert [s["notes"] for s in read["sessions"]] == [NOTES, None]
    listed = (await client.get("/api/patients/")).json()["results"]
    assert [s["notes"] for s in listed[0]["sessions"]] == [NOTES, None]
    history = (await client.get(f"/api/patients/{patient['id']}/history/")).json()["results"]
    latest = (await client.get(history[0]["url"])).json()
    assert [s["notes"] for s in latest["record"]["sessions"]] == [NOTES, None]


async def test_session_notes_moved_to_another_column_do_not_open(client, engine):
    patient = await create_patient(client, allergies_and_medication=ALLERGIES)
    await add_session(client, patient["id"], NOTES)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE patients SET sessions = jsonb_build_array(jsonb_set(sessions -> 0,"
                " '{notes}', to_jsonb(allergies_and_medication))) WHERE id = :id"
            ),
            {"id": patient["id"]},
        )
    response = await client.get(f"/api/patients/{patient['id']}/")
    assert response.status_code == 500  # the row was tampered with: fail closed
    assert response.json() == {"detail": "A server error occurred."}
    assert "penicillin" not in response.text


async def test_rotate_keys_reencrypts_session_notes_in_the_row_and_the_history(
    client, engine, settings
):
    first = await create_patient(client)
    await add_session(client, first["id"], NOTES)
    await add_session(client, first["id"], "Second session")
    second = await create_patient(client)
    await add_session(client, second["id"], None)
    before = (await client.get(f"/api/patients/{first['id']}/")).json()

    assert await rotate_keys(rotated_settings(settings), batch_size=1) == 2

    new_only = Keyring.parse(NEW_KEY)
    for patient_id in (first["id"], second["id"]):
        rows = await raw_sessions(engine, "patients", "id", patient_id)
        rows += await raw_sessions(engine, "patient_versions", "patient_id", patient_id)
        for sessions in rows:
            for session in sessions:
                if session["notes"] is not None:
                    assert session["notes"].startswith(f"v1:{NEW_ID}:")
                    new_only.decrypt(session["notes"], context=NOTES_CONTEXT)
    assert await rotate_keys(rotated_settings(settings)) == 0
    after = (await client.get(f"/api/patients/{first['id']}/")).json()
    assert after == before  # the record, its version and its time are as they were

    # A row whose only value under an old key is one session's notes is found and rotated.
    stale = Keyring.parse(TEST_PHI_KEY).encrypt("Stale", context=NOTES_CONTEXT)
    async with engine.begin() as connection:
        for table, key in (("patients", "id"), ("patient_versions", "patient_id")):
            await connection.execute(
                text(
                    f"UPDATE {table} SET sessions = jsonb_set(sessions, '{{1,notes}}',"  # noqa: S608
                    f" to_jsonb(CAST(:notes AS text))) WHERE {key} = :id"
                    " AND jsonb_array_length(sessions) = 2"
                ),
                {"notes": stale, "id": first["id"]},
            )
    assert await rotate_keys(rotated_settings(settings)) == 1
    [sessions] = await raw_sessions(engine, "patients", "id", first["id"])
    assert new_only.decrypt(sessions[1]["notes"], context=NOTES_CONTEXT) == "Stale"
    for sessions in await raw_sessions(engine, "patient_versions", "patient_id", first["id"]):
        assert all(s["notes"].startswith(f"v1:{NEW_ID}:") for s in sessions)

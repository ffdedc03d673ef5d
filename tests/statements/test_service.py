"""A patient's diagnosis codes through the API (StatementService.diagnoses, set_diagnoses):
normalised, refused when wrong or repeated, encrypted at rest, audited without the codes; and
the period rule of StatementService."""

from datetime import date

import pytest
from sqlalchemy import text

from app.core.config import get_settings
from app.core.errors import ValidationFailed
from app.statements.schemas import Period
from app.statements.service import StatementService
from tests.factories import create_patient
from tests.requests.test_work import events


async def stored(engine, patient_id: str) -> str | None:
    async with engine.connect() as connection:
        value = await connection.scalar(
            text("SELECT codes FROM patient_diagnoses WHERE patient_id = :p"), {"p": patient_id}
        )
    return str(value) if value is not None else None


async def test_staff_replace_the_codes_which_are_encrypted_at_rest(
    client, staff_client, patient_client, engine
):
    patient = await create_patient(client)
    url = f"/api/patients/{patient['id']}/diagnoses/"
    therapist = await staff_client("therapist")
    own = await patient_client(patient["id"])
    assert (await own.get(url)).json() == {"codes": []}

    written = await therapist.put(url, json={"codes": ["f411", "F33.0", "z63.0"]})

    assert written.status_code == 200, written.text
    assert written.json() == {"codes": ["F41.1", "F33.0", "Z63.0"]}
    assert (await own.get(url)).json() == {"codes": ["F41.1", "F33.0", "Z63.0"]}
    at_rest = await stored(engine, patient["id"])
    assert at_rest is not None
    for clear in ("F41.1", "F33.0", "Z63.0", "F41", "codes"):
        assert clear not in at_rest
    replaced = await client.put(url, json={"codes": ["F43.10"]})
    assert replaced.json() == {"codes": ["F43.10"]}
    cleared = await client.put(url, json={"codes": []})
    assert cleared.json() == {"codes": []}
    assert (await therapist.get(url)).json() == {"codes": []}
    audited = [(e["action"], e["patient_id"]) for e in await events(engine)]
    assert audited.count(("set_diagnoses", patient["id"])) == 3
    assert audited.count(("get_diagnoses", patient["id"])) == 3
    trail = (await client.get(f"/api/audit/?patient={patient['id']}")).text
    assert "F41.1" not in trail
    assert "F43.10" not in trail


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        (["F41.1", "f411"], "F41.1 is listed more than once."),
        (["F41.1", "F41.1"], "F41.1 is listed more than once."),
        (["41.1"], "Enter an ICD-10-CM code"),
        (["F41.12345"], "Enter an ICD-10-CM code"),
        ([""], None),
        ([f"F{n:02d}" for n in range(13)], None),
        ("F41.1", None),
        (None, None),
    ],
)
async def test_wrong_codes_are_a_400_on_the_field(client, engine, codes, message):
    patient = await create_patient(client)
    url = f"/api/patients/{patient['id']}/diagnoses/"
    await client.put(url, json={"codes": ["F32.9"]})

    response = await client.put(url, json={"codes": codes})

    assert response.status_code == 400, response.text
    assert list(response.json()) == ["codes"]
    if message is not None:
        assert any(message in error for error in response.json()["codes"]), response.json()
    assert (await client.get(url)).json() == {"codes": ["F32.9"]}


async def test_twelve_codes_are_enough(client):
    patient = await create_patient(client)
    codes = [f"F{n:02d}" for n in range(12)]

    response = await client.put(f"/api/patients/{patient['id']}/diagnoses/", json={"codes": codes})

    assert (response.status_code, response.json()) == (200, {"codes": codes})


async def test_only_staff_write_and_a_patient_reads_only_their_own(client, patient_client):
    patient, other = await create_patient(client), await create_patient(client)
    url = f"/api/patients/{patient['id']}/diagnoses/"
    own = await patient_client(patient["id"])
    stranger = await patient_client(other["id"])

    assert (await own.put(url, json={"codes": ["F41.1"]})).status_code == 403
    assert (await stranger.get(url)).status_code == 403
    missing = "/api/patients/p_zzzzzz/diagnoses/"
    assert (await client.put(missing, json={"codes": ["F41.1"]})).status_code == 404
    assert (await client.get(missing)).status_code == 404
    await client.delete(f"/api/patients/{patient['id']}/", headers={"If-Match": "*"})
    assert (await client.put(url, json={"codes": ["F41.1"]})).status_code == 404
    assert (await client.get(url)).status_code == 404


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2026, 2, 3), None, Period(start=date(2026, 2, 3), end=date(2026, 2, 28))),
        (None, date(2024, 2, 3), Period(start=date(2024, 2, 1), end=date(2024, 2, 3))),
        (date(2026, 12, 31), None, Period(start=date(2026, 12, 31), end=date(2026, 12, 31))),
        (date(2026, 1, 1), date(2027, 1, 1), Period(start=date(2026, 1, 1), end=date(2027, 1, 1))),
    ],
)
def test_the_period_takes_a_missing_day_from_the_other_days_month(start, end, expected):
    service = StatementService(None, get_settings())  # type: ignore[arg-type]

    assert service.period(start, end) == expected


def test_a_period_of_367_days_is_refused():
    service = StatementService(None, get_settings())  # type: ignore[arg-type]

    with pytest.raises(ValidationFailed):
        service.period(date(2026, 1, 1), date(2027, 1, 2))

"""The measures' API: instruments, assignments and requests, responses scored at every band
boundary, item 9 at each value, safety alerts raised with the response and acknowledged, trends,
FHIR, and who may read what."""

from typing import Any

import httpx
import pytest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from sqlalchemy import text

from tests.appointments.conftest import Therapist, insert_appointment
from tests.factories import create_patient

PHQ9_BANDS = [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
              (14, "moderate"), (15, "moderately severe"), (19, "moderately severe"),
              (20, "severe"), (27, "severe")]  # fmt: skip
GAD7_BANDS = [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
              (14, "moderate"), (15, "severe"), (21, "severe")]  # fmt: skip


def answers(total: int, items: int, item9: int | None = None) -> dict[str, int]:
    """Answers summing to `total`, item 9 (PHQ-9) fixed when given (else only past 24)."""
    values = [0] * items
    if items == 9:
        item9 = max(0, total - 24) if item9 is None else item9
        values[8] = item9
        total -= item9
    for position in range(items):
        if items == 9 and position == 8:
            continue
        step = min(3, total)
        values[position] = step
        total -= step
    assert total == 0
    return {str(number + 1): value for number, value in enumerate(values)}


async def assign(client: httpx.AsyncClient, patient_id: str, **more: Any) -> dict[str, Any]:
    response = await client.post(
        f"/api/patients/{patient_id}/measure-assignments/",
        json={"instrument": "phq9", "schedule": "once", **more},
    )
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def open_request(client: httpx.AsyncClient, patient_id: str) -> dict[str, Any]:
    listed = (await client.get(f"/api/patients/{patient_id}/measure-requests/")).json()
    first: dict[str, Any] = listed["results"][0]
    return first


def respond(request_id: int) -> str:
    return f"/api/measure-requests/{request_id}/response/"


async def test_the_instruments_are_listed_with_their_items_and_bands(client):
    page = (await client.get("/api/instruments/")).json()

    found = {instrument["id"]: instrument for instrument in page["results"]}
    assert {"phq9", "gad7"} <= set(found)
    assert len(found["phq9"]["items"]) >= 9
    assert [band["label"].lower() for band in found["gad7"]["bands"]] == [
        "minimal", "mild", "moderate", "severe"
    ]  # fmt: skip


@pytest.mark.parametrize(("total", "band"), PHQ9_BANDS)
async def test_phq9_is_scored_at_each_band_boundary(client, total, band):
    patient = await create_patient(client)

    response = await client.post(
        f"/api/patients/{patient['id']}/measures/",
        json={"instrument": "phq9", "answers": answers(total, 9)},
    )

    assert response.status_code == 201, response.text
    assert (response.json()["total"], response.json()["band"].lower()) == (total, band)


@pytest.mark.parametrize(("total", "band"), GAD7_BANDS)
async def test_gad7_is_scored_at_each_band_boundary(client, total, band):
    patient = await create_patient(client)

    response = await client.post(
        f"/api/patients/{patient['id']}/measures/",
        json={"instrument": "gad7", "answers": answers(total, 7)},
    )

    assert (response.json()["total"], response.json()["band"].lower()) == (total, band)


@pytest.mark.parametrize("item9", [0, 1, 2, 3])
async def test_item_9_above_0_raises_an_alert_whatever_the_total(
    client, patient_client, therapist: Therapist, engine, item9
):
    patient = await create_patient(client)
    await assign(client, patient["id"], therapist=therapist.id)
    request = await open_request(client, patient["id"])
    own = await patient_client(patient["id"])

    response = await own.post(respond(request["id"]), json={"answers": answers(item9, 9, item9)})

    assert response.status_code == 201, response.text
    alerts = (await therapist.client.get("/api/alerts/")).json()["results"]
    mine = [alert for alert in alerts if alert["patient"] == patient["id"]]
    assert len(mine) == (1 if item9 else 0)
    async with engine.connect() as connection:
        notices = await connection.scalar(
            text("SELECT count(*) FROM alert_notices WHERE staff_id = :t AND kind = 'notify'"),
            {"t": therapist.id},
        )
    assert notices == (1 if item9 else 0)
    if item9:
        assert mine[0]["therapist"] == therapist.id
        assert "item 9" in mine[0]["message"]


async def test_a_request_is_answered_once_completely_and_before_it_expires(
    client, patient_client, engine
):
    patient = await create_patient(client)
    await assign(client, patient["id"])
    request = await open_request(client, patient["id"])
    own = await patient_client(patient["id"])
    partial = answers(5, 9)
    del partial["4"]

    missing = await own.post(respond(request["id"]), json={"answers": partial})
    wrong = await own.post(respond(request["id"]), json={"answers": {**answers(5, 9), "2": 4}})
    first = await own.post(respond(request["id"]), json={"answers": answers(5, 9)})
    second = await own.post(respond(request["id"]), json={"answers": answers(5, 9)})

    assert missing.status_code == 400
    assert any(message.startswith("Item 4") for message in missing.json()["answers"])
    assert wrong.status_code == 400
    assert any(message.startswith("Item 2") for message in wrong.json()["answers"])
    assert (first.status_code, second.status_code) == (201, 409)

    await assign(client, patient["id"])
    later = (await client.get(f"/api/patients/{patient['id']}/measure-requests/")).json()
    fresh = next(r for r in later["results"] if r["status"] == "scheduled")
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE measure_requests SET due_at = now() - interval '2 days',"
                " expires_at = now() - interval '1 day' WHERE id = :r"
            ),
            {"r": fresh["id"]},
        )
    expired = await own.post(respond(fresh["id"]), json={"answers": answers(5, 9)})
    assert expired.status_code == 400
    assert "expired" in expired.json()["non_field_errors"][0]


async def test_only_the_patient_answers_their_request(client, patient_client):
    patient, other = await create_patient(client), await create_patient(client)
    await assign(client, patient["id"])
    request = await open_request(client, patient["id"])
    stranger = await patient_client(other["id"])

    assert (
        await stranger.post(respond(request["id"]), json={"answers": answers(1, 9)})
    ).status_code == 403
    assert (
        await client.post(respond(request["id"]), json={"answers": answers(1, 9)})
    ).status_code == 403


async def test_an_alert_is_acknowledged_once_by_the_treating_therapist_or_an_admin(
    client, patient_client, make_therapist, staff_client
):
    treating, other = await make_therapist(), await make_therapist()
    patient = await create_patient(client)
    await client.post(
        f"/api/patients/{patient['id']}/measures/",
        json={"instrument": "phq9", "answers": answers(3, 9, 1)},
    )
    await assign(client, patient["id"], therapist=treating.id)
    alerts = (await client.get("/api/alerts/", params={"patient": patient["id"]})).json()
    alert = alerts["results"][0]
    url = f"/api/alerts/{alert['id']}/acknowledge/"
    own = await patient_client(patient["id"])

    assert (await own.get("/api/alerts/")).status_code == 403
    assert (await other.client.post(url, json={"note": "Seen."})).status_code == 403
    assert (await treating.client.post(url, json={"note": ""})).status_code == 400
    done = await treating.client.post(url, json={"note": "Called; safety plan reviewed."})
    again = await client.post(url, json={"note": "Me too."})

    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["acknowledged_by"]) == (
        "acknowledged", treating.username
    )  # fmt: skip
    assert again.status_code == 409
    still_open = (await client.get("/api/alerts/", params={"patient": patient["id"]})).json()
    assert still_open["count"] == 0


async def test_an_alert_without_a_treating_therapist_escalates_at_once(client, engine):
    patient = await create_patient(client)

    await client.post(
        f"/api/patients/{patient['id']}/measures/",
        json={"instrument": "phq9", "answers": answers(2, 9, 2)},
    )

    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT therapist_id, escalate_at <= created_at + interval '1 second'"
                    " FROM safety_alerts WHERE patient_id = :p"
                ),
                {"p": patient["id"]},
            )
        ).one()
    assert row == (None, True)


async def test_the_trend_flags_response_and_remission(client, patient_client):
    patient = await create_patient(client)
    for total in (20, 12, 4):
        await client.post(
            f"/api/patients/{patient['id']}/measures/",
            json={"instrument": "phq9", "answers": answers(total, 9)},
        )
    own = await patient_client(patient["id"])

    trend = (await own.get(f"/api/patients/{patient['id']}/measures/?instrument=phq9")).json()

    assert [point["total"] for point in trend["points"]] == [20, 12, 4]
    assert (trend["first"], trend["latest"], trend["change"]) == (20, 4, -16)
    assert (trend["response"], trend["remission"]) == (True, True)
    none = (await own.get(f"/api/patients/{patient['id']}/measures/?instrument=gad7")).json()
    assert (none["points"], none["response"], none["remission"]) == ([], False, False)
    unknown = await own.get(f"/api/patients/{patient['id']}/measures/?instrument=nope")
    assert unknown.status_code == 400


async def test_a_response_as_fhir_r4(client):
    patient = await create_patient(client)
    made = await client.post(
        f"/api/patients/{patient['id']}/measures/",
        json={"instrument": "phq9", "answers": answers(11, 9)},
    )
    measure = made.json()

    bundle = (
        await client.get(f"/api/patients/{patient['id']}/measures/{measure['id']}/fhir/")
    ).json()

    response, observed = (entry["resource"] for entry in bundle["entry"])
    QuestionnaireResponse.model_validate(response)
    Observation.model_validate(observed)
    assert observed["valueInteger"] == 11
    assert any(c["code"] == "44261-6" for c in observed["code"]["coding"])
    codings = [item["answer"][0]["valueCoding"] for item in response["item"]]
    assert all("extension" in coding for coding in codings)


async def test_who_reads_a_response(client, patient_client, make_therapist, engine):
    treating, other = await make_therapist(), await make_therapist()
    patient, stranger = await create_patient(client), await create_patient(client)
    await insert_appointment(
        engine, patient["id"], treating.id, "booked",
        "2031-03-03T09:00:00+00:00", "2031-03-03T09:50:00+00:00",
    )  # fmt: skip
    made = await client.post(
        f"/api/patients/{patient['id']}/measures/",
        json={"instrument": "gad7", "answers": answers(6, 7)},
    )
    url = f"/api/patients/{patient['id']}/measures/{made.json()['id']}/"
    own, theirs = await patient_client(patient["id"]), await patient_client(stranger["id"])

    assert (await client.get(url)).status_code == 200
    assert (await own.get(url)).status_code == 200
    assert (await treating.client.get(url)).status_code == 200
    assert (await other.client.get(url)).status_code == 403
    assert (await theirs.get(url)).status_code == 403
    trend = f"/api/patients/{patient['id']}/measures/?instrument=gad7"
    assert (await other.client.get(trend)).status_code == 403
    async with engine.connect() as connection:
        stored = await connection.scalar(
            text("SELECT answers FROM measure_responses WHERE id = :m"), {"m": made.json()["id"]}
        )
    assert '"1"' not in stored  # encrypted at rest


async def test_a_patient_not_there_is_a_404(client):
    missing = "p_zz0000"

    administered = await client.post(
        f"/api/patients/{missing}/measures/",
        json={"instrument": "phq9", "answers": answers(3, 9)},
    )
    trend = await client.get(f"/api/patients/{missing}/measures/?instrument=phq9")
    assigned = await client.post(
        f"/api/patients/{missing}/measure-assignments/",
        json={"instrument": "phq9", "schedule": "once"},
    )

    assert [administered.status_code, trend.status_code, assigned.status_code] == [404] * 3

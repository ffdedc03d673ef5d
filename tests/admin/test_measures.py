"""Measures in the admin: a patient's charts on their page (admins and the treating therapist
only), and the safety alerts' page where they are acknowledged with a note; each through
MeasureService, audited, with the API's roles and refusals."""

import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from html import unescape
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.admin.conftest import audit_rows, browser, log_in
from tests.appointments.conftest import Therapist
from tests.conftest import STAFF_PASSWORD
from tests.factories import create_patient
from tests.measures.test_routes import answers

pytestmark = pytest.mark.usefixtures("anonymous")

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
async def admin_as(app: FastAPI) -> AsyncIterator[Any]:
    """The admin logged in as an existing staff member (a therapist the API knows too)."""
    opened: list[httpx.AsyncClient] = []

    async def make(username: str) -> httpx.AsyncClient:
        client = browser(app)
        opened.append(client)
        response = await log_in(client, username, STAFF_PASSWORD)
        assert response.status_code == 302, response.text
        return client

    yield make
    for client in opened:
        await client.aclose()


async def administer(
    client: httpx.AsyncClient, patient_id: str, total: int, instrument: str = "phq9", **more: Any
) -> dict[str, Any]:
    items = 9 if instrument == "phq9" else 7
    response = await client.post(
        f"/api/patients/{patient_id}/measures/",
        json={"instrument": instrument, "answers": answers(total, items, **more)},
    )
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def assign_to(client: httpx.AsyncClient, patient_id: str, therapist_id: int) -> None:
    response = await client.post(
        f"/api/patients/{patient_id}/measure-assignments/",
        json={"instrument": "phq9", "schedule": "once", "therapist": therapist_id},
    )
    assert response.status_code == 201, response.text


def charts(html: str) -> dict[str, ET.Element]:
    found = {}
    for svg in re.findall(r"<svg\b.*?</svg>", html, re.S):
        root = ET.fromstring(svg)  # noqa: S314 - the page's own markup
        found[root.get("data-instrument", "")] = root
    return found


def figure(html: str, instrument: str, name: str) -> str:
    block = re.search(
        rf'<div class="measure mb-3" data-instrument="{instrument}">(.*?)</table>', html, re.S
    )
    assert block is not None, f"no {instrument} measures"
    cell = re.search(rf"<td data-{name}>(.*?)</td>", block.group(1), re.S)
    assert cell is not None
    return unescape(cell.group(1)).strip()


def alert_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr data-alert="(\d+)">', html)]


def errors_of(html: str, alert_id: int) -> str:
    opening = f'<div class="alert alert-danger" role="alert" id="acknowledge-{alert_id}-errors">'
    found = re.search(re.escape(opening) + r"(.*?)</div>\s*</div>", html, re.S)
    assert found is not None, f"no errors shown for alert {alert_id}"
    return unescape(re.sub(r"<[^>]+>", " ", found.group(1)))


async def open_alerts(client: httpx.AsyncClient, patient_id: str) -> list[dict[str, Any]]:
    listed = (await client.get(f"/api/alerts/?patient={patient_id}")).json()
    found: list[dict[str, Any]] = listed["results"]
    return found


async def events(engine: AsyncEngine, action: str, patient_id: str | None) -> list[dict[str, Any]]:
    return [row for row in await audit_rows(engine, action) if row["patient_id"] == patient_id]


# The patient's page.


async def test_an_admin_sees_a_chart_per_instrument_answered_and_the_read_is_audited(
    admin_login, client, engine
):
    patient = await create_patient(client)
    for total in (16, 9, 4):
        await administer(client, patient["id"], total)
    admin = await admin_login("admin")

    page = await admin.get(f"/admin/patient/details/{patient['id']}")

    assert page.status_code == 200
    found = charts(page.text)
    assert set(found) == {"phq9"}  # GAD-7 was never answered
    points = found["phq9"].findall(f".//{SVG}circle")
    assert [point.get("data-score") for point in points] == ["16", "9", "4"]
    assert len(found["phq9"].findall(f".//{SVG}g[@class='band']")) == 5
    assert figure(page.text, "phq9", "latest").startswith("4 of 27: Minimal")
    assert figure(page.text, "phq9", "responses") == "3; first 16, change -12"
    assert figure(page.text, "phq9", "response").startswith("Yes")
    assert figure(page.text, "phq9", "remission") == "Yes: below 5"
    (read,) = await events(engine, "admin_get_patient_measures", patient["id"])
    assert (read["outcome"], read["actor_kind"]) == ("success", "staff")
    assert len(await events(engine, "admin_get_patient", patient["id"])) == 1


async def test_a_patient_with_no_responses_says_so(admin_login, client):
    patient = await create_patient(client)
    admin = await admin_login("admin")

    page = await admin.get(f"/admin/patient/details/{patient['id']}")

    assert 'id="no-measures"' in page.text
    assert charts(page.text) == {}


async def test_no_response_nor_remission_while_the_score_stays_high(admin_login, client):
    patient = await create_patient(client)
    await administer(client, patient["id"], 12, "gad7")
    await administer(client, patient["id"], 10, "gad7")
    admin = await admin_login("admin")

    page = (await admin.get(f"/admin/patient/details/{patient['id']}")).text

    assert set(charts(page)) == {"gad7"}
    assert figure(page, "gad7", "response") == "No"
    assert figure(page, "gad7", "remission") == "No"


async def test_the_treating_therapist_sees_the_charts_another_therapist_does_not(
    admin_as, client, make_therapist, engine
):
    patient = await create_patient(client)
    await administer(client, patient["id"], 7)
    treating: Therapist = await make_therapist()
    other: Therapist = await make_therapist()
    await assign_to(client, patient["id"], treating.id)

    theirs = await (await admin_as(treating.username)).get(
        f"/admin/patient/details/{patient['id']}"
    )
    refused = await (await admin_as(other.username)).get(f"/admin/patient/details/{patient['id']}")

    assert set(charts(theirs.text)) == {"phq9"}
    assert refused.status_code == 200  # the rest of the page is theirs to read
    assert charts(refused.text) == {}
    assert 'id="measures-not-shown"' in refused.text
    outcomes = {
        row["actor"]: row["outcome"]
        for row in await events(engine, "admin_get_patient_measures", patient["id"])
    }
    assert outcomes == {treating.username: "success", other.username: "denied"}


# Safety alerts.


async def test_the_alerts_page_lists_a_therapists_own_and_an_admin_every_one(
    admin_login, admin_as, client, make_therapist, engine
):
    first, second = await make_therapist(), await make_therapist()
    patients = [await create_patient(client), await create_patient(client)]
    for patient, treating in zip(patients, (first, second), strict=True):
        await assign_to(client, patient["id"], treating.id)
        await administer(treating.client, patient["id"], 6, item9=1)
    alerts = [(await open_alerts(client, patient["id"]))[0]["id"] for patient in patients]
    admin = await admin_login("admin")

    everything = await admin.get("/admin/alerts")
    mine = await (await admin_as(first.username)).get("/admin/alerts")

    assert everything.status_code == 200
    assert sorted(alert_ids(everything.text)) == sorted(alerts)
    assert alert_ids(mine.text) == [alerts[0]]
    assert "item 9" in mine.text
    assert patients[1]["id"] not in mine.text
    assert len(await audit_rows(engine, "admin_list_alerts")) == 2


async def test_acknowledging_needs_a_note_and_is_audited(admin_as, client, therapist, engine):
    patient = await create_patient(client)
    await assign_to(client, patient["id"], therapist.id)
    await administer(therapist.client, patient["id"], 3, item9=2)
    (alert,) = await open_alerts(client, patient["id"])
    admin = await admin_as(therapist.username)

    blank = await admin.post(f"/admin/alerts/{alert['id']}/acknowledge", data={"note": "  "})

    assert blank.status_code == 400
    assert f'id="acknowledge-{alert["id"]}-note" name="note"' in blank.text
    assert re.search(r'class="form-control form-control-sm is-invalid"', blank.text)
    assert '<div class="invalid-feedback">' in blank.text
    assert (await open_alerts(client, patient["id"]))[0]["status"] == "open"
    # Refused before the alert is read: the event names no patient, as the API's does.
    (invalid,) = await events(engine, "admin_acknowledge_alert", None)
    assert (invalid["outcome"], invalid["status_code"]) == ("invalid", 400)

    done = await admin.post(
        f"/admin/alerts/{alert['id']}/acknowledge", data={"note": "Called; safety plan reviewed."}
    )

    assert done.status_code == 302
    listed = await admin.get("/admin/alerts")
    assert f"Alert {alert['id']} acknowledged." in listed.text
    assert alert_ids(listed.text) == []
    stored = (await client.get(f"/api/alerts/?status=acknowledged&patient={patient['id']}")).json()
    assert stored["results"][0]["acknowledged_by"] == therapist.username
    assert stored["results"][0]["note"] == "Called; safety plan reviewed."
    (acknowledged,) = await events(engine, "admin_acknowledge_alert", patient["id"])
    assert (acknowledged["actor"], acknowledged["outcome"]) == (therapist.username, "success")


async def test_a_second_acknowledgement_is_shown_not_a_500(admin_login, client):
    patient = await create_patient(client)
    await administer(client, patient["id"], 3, item9=1)
    (alert,) = await open_alerts(client, patient["id"])
    admin = await admin_login("admin")
    first = await admin.post(f"/admin/alerts/{alert['id']}/acknowledge", data={"note": "Seen."})
    assert first.status_code == 302

    again = await admin.post(f"/admin/alerts/{alert['id']}/acknowledge", data={"note": "Again."})

    assert again.status_code == 409
    assert "acknowledged already" in errors_of(again.text, alert["id"])


async def test_another_therapists_alert_is_a_403_and_a_missing_one_a_404(
    admin_as, client, make_therapist, engine
):
    owner, other = await make_therapist(), await make_therapist()
    patient = await create_patient(client)
    await assign_to(client, patient["id"], owner.id)
    await administer(owner.client, patient["id"], 3, item9=1)
    (alert,) = await open_alerts(client, patient["id"])
    admin = await admin_as(other.username)

    refused = await admin.post(f"/admin/alerts/{alert['id']}/acknowledge", data={"note": "Mine?"})
    missing = await admin.post("/admin/alerts/999999/acknowledge", data={"note": "Who?"})
    nonsense = await admin.post("/admin/alerts/abc/acknowledge", data={"note": "Who?"})

    assert refused.status_code == 403
    assert missing.status_code == 404
    assert nonsense.status_code == 404
    assert (await open_alerts(client, patient["id"]))[0]["status"] == "open"
    (denied,) = await events(engine, "admin_acknowledge_alert", patient["id"])
    assert (denied["actor"], denied["outcome"]) == (other.username, "denied")


async def test_acknowledging_without_the_csrf_token_is_refused(admin_login, client):
    patient = await create_patient(client)
    await administer(client, patient["id"], 3, item9=1)
    (alert,) = await open_alerts(client, patient["id"])
    admin = await admin_login("admin")
    del admin.headers["X-CSRFToken"]

    refused = await admin.post(f"/admin/alerts/{alert['id']}/acknowledge", data={"note": "Seen."})

    assert refused.status_code == 403
    assert (await open_alerts(client, patient["id"]))[0]["status"] == "open"

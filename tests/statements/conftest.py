"""A practice's month through the API: a therapist with an NPI, a billable service, a session
fulfilled (which issues its invoice), a manual invoice, a voided one and a draft, a cash payment
and part of it refunded."""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.appointments.conftest import body, set_hours, staff_id
from tests.factories import create_patient

NPI = "1003000126"
SESSION_DAY = "2030-01-07"


@dataclass
class Month:
    patient: dict[str, Any]
    therapist_id: int
    session: dict[str, Any]
    manual: dict[str, Any]
    voided: dict[str, Any]
    draft: dict[str, Any]
    payment: dict[str, Any]
    refund: dict[str, Any]


def today(settings) -> date:
    return datetime.now(UTC).astimezone(settings.clinic_zone).date()


def month_of(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


async def issued(client, patient_id: str, price: str, description: str = "Copy of records"):
    draft = await client.post(
        "/api/invoices/",
        json={"patient": patient_id, "lines": [{"description": description, "unit_price": price}]},
    )
    assert draft.status_code == 201, draft.text
    issue = await client.post(f"/api/invoices/{draft.json()['id']}/issue/")
    assert issue.status_code == 200, issue.text
    return issue.json()


@pytest.fixture
async def month(client, staff_client, engine) -> Month:
    username = f"therapist-{uuid.uuid4().hex[:6]}"
    await staff_client("therapist", username)
    therapist_id = await staff_id(engine, username)
    await set_hours(engine, therapist_id)
    named = await client.patch(
        f"/api/therapists/{therapist_id}/", json={"display_name": "Dr. Rivera", "npi": NPI}
    )
    assert named.status_code == 200, named.text
    service = await client.post(
        "/api/billable-services/",
        json={
            "code": "90834",
            "name": "Psychotherapy, 45 minutes",
            "duration_minutes": 45,
            "price": "120.00",
        },
    )
    assert service.status_code == 201, service.text
    patient = await create_patient(client, address="22 Elm Road\nSpringfield, IL 62704")

    booked = await client.post(
        "/api/appointments/",
        json=body(
            patient["id"],
            therapist_id,
            start=f"{SESSION_DAY}T09:00:00+01:00",
            end=f"{SESSION_DAY}T09:45:00+01:00",
            service=service.json()["id"],
        ),
    )
    assert booked.status_code == 201, booked.text
    done = await client.patch(
        f"/api/appointments/{booked.json()['id']}/", json={"status": "fulfilled"}
    )
    assert done.status_code == 200, done.text
    invoices = await client.get(f"/api/invoices/?patient={patient['id']}")
    (session,) = invoices.json()["results"]
    assert (session["kind"], session["total"]) == ("session", "120.00")

    manual = await issued(client, patient["id"], "80.00")
    voided = await issued(client, patient["id"], "15.00", "Letter")
    void = await client.post(f"/api/invoices/{voided['id']}/void/", json={"reason": "Typo"})
    assert void.status_code == 200, void.text
    draft = await client.post(
        "/api/invoices/",
        json={"patient": patient["id"], "lines": [{"description": "Draft", "unit_price": "9"}]},
    )
    assert draft.status_code == 201, draft.text

    paid = await client.post("/api/payments/", json={"invoices": [session["id"]], "method": "cash"})
    assert paid.status_code == 201, paid.text
    refund = await client.post(
        f"/api/payments/{paid.json()['id']}/refund/", json={"amount": "20.00"}
    )
    assert refund.status_code == 201, refund.text
    return Month(
        patient=patient,
        therapist_id=therapist_id,
        session=(await client.get(f"/api/invoices/{session['id']}/")).json(),
        manual=manual,
        voided=void.json(),
        draft=draft.json(),
        payment=paid.json(),
        refund=refund.json(),
    )

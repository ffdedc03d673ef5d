"""The invoices an appointment brings (InvoiceService.bill_session and bill_fee), issued in the
transaction that changes the appointment: a fulfilled session of a billable service at the
patient's price, once per appointment; nothing when the change fails, even after the invoice was
written."""

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from app.core.errors import Conflict
from app.invoices.service import InvoiceService
from tests.appointments.conftest import book, invoices_of
from tests.invoices.conftest import issued, ledger_total, numbers, receivable, set_scale

APPOINTMENTS = "/api/appointments/"
START = "2030-01-07T09:00:00+01:00"


def appointment_url(appointment_id: int) -> str:
    return f"{APPOINTMENTS}{appointment_id}/"


async def sessions(client: Any, patient_id: str) -> list[Any]:
    record = (await client.get(f"/api/patients/{patient_id}/")).json()
    return [session["appointment"] for session in record["sessions"]]


async def test_fulfilling_a_session_of_a_service_issues_its_invoice(
    client, therapist, patient, service, engine, settings
):
    await set_scale(client, patient["id"], 60)
    appointment = await book(client, patient["id"], therapist.id, service=service["id"])

    answer = await client.patch(appointment_url(appointment["id"]), json={"status": "fulfilled"})

    assert answer.status_code == 200, answer.text
    (invoice,) = await invoices_of(client, patient["id"])
    this_year = datetime.now(settings.clinic_zone).year
    assert {key: invoice[key] for key in ("kind", "appointment", "status", "number")} == {
        "kind": "session",
        "appointment": appointment["id"],
        "status": "open",
        "number": f"{this_year}-000001",
    }
    assert (invoice["total"], invoice["amount_due"], invoice["created_by"]) == (
        "72.00",
        "72.00",
        "admin",
    )
    assert invoice["lines"] == [
        {
            "position": 1,
            "description": "90834 Psychotherapy, 45 minutes (sliding scale 60%)",
            "service": service["id"],
            "service_code": "90834",
            "date_of_service": "2030-01-07",
            "therapist": therapist.id,
            "quantity": 1,
            "unit_price": "72.00",
            "amount": "72.00",
        }
    ]
    assert await sessions(client, patient["id"]) == [appointment["id"]]
    assert await ledger_total(engine) == 0
    assert await receivable(engine, invoice["id"]) == Decimal("72.00")


async def test_a_session_is_dated_in_the_clinics_time_zone(
    client, therapist, patient, service, engine
):
    # 00:30 in Berlin is still the day before in UTC.
    appointment = await book(
        client,
        patient["id"],
        therapist.id,
        start="2030-01-08T00:30:00+01:00",
        end="2030-01-08T01:20:00+01:00",
        service=service["id"],
        override_availability=True,
    )

    await client.patch(appointment_url(appointment["id"]), json={"status": "fulfilled"})

    (invoice,) = await invoices_of(client, patient["id"])
    assert invoice["lines"][0]["date_of_service"] == "2030-01-08"


async def test_a_patch_may_name_the_service_and_fulfil_at_once(client, therapist, patient, service):
    appointment = await book(client, patient["id"], therapist.id)

    answer = await client.patch(
        appointment_url(appointment["id"]), json={"status": "fulfilled", "service": service["id"]}
    )

    assert answer.status_code == 200, answer.text
    (invoice,) = await invoices_of(client, patient["id"])
    assert (invoice["kind"], invoice["total"]) == ("session", "120.00")


async def test_a_session_without_a_service_is_not_billed(client, therapist, patient, engine):
    appointment = await book(client, patient["id"], therapist.id)

    answer = await client.patch(appointment_url(appointment["id"]), json={"status": "fulfilled"})

    assert answer.status_code == 200
    assert await invoices_of(client, patient["id"]) == []
    assert await sessions(client, patient["id"]) == [appointment["id"]]
    assert await ledger_total(engine) == 0


async def test_a_service_deleted_since_the_booking_is_still_billed(
    client, therapist, patient, service
):
    """A deleted service is kept for the invoices that will name it (docs/api/payments.md)."""
    appointment = await book(client, patient["id"], therapist.id, service=service["id"])
    assert (await client.delete(f"/api/billable-services/{service['id']}/")).status_code == 204

    answer = await client.patch(appointment_url(appointment["id"]), json={"status": "fulfilled"})

    assert answer.status_code == 200, answer.text
    (invoice,) = await invoices_of(client, patient["id"])
    assert (invoice["kind"], invoice["total"]) == ("session", "120.00")
    assert invoice["lines"][0]["service_code"] == "90834"


async def test_a_stale_fulfilment_bills_nothing(client, therapist, patient, service, engine):
    appointment = await book(client, patient["id"], therapist.id, service=service["id"])

    stale = await client.patch(
        appointment_url(appointment["id"]),
        json={"status": "fulfilled"},
        headers={"If-Match": '"1"'},
    )

    assert stale.status_code == 412
    assert await invoices_of(client, patient["id"]) == []
    assert await numbers(engine) == []


async def test_a_fulfilment_failing_after_its_invoice_leaves_nothing(
    client, therapist, patient, service, engine, settings, monkeypatch
):
    appointment = await book(client, patient["id"], therapist.id, service=service["id"])
    bill = InvoiceService.bill_session

    async def billed_then_fails(self: InvoiceService, **kwargs: Any) -> Any:
        await bill(self, **kwargs)
        raise Conflict("Something after the invoice failed.")

    monkeypatch.setattr(InvoiceService, "bill_session", billed_then_fails)
    answer = await client.patch(appointment_url(appointment["id"]), json={"status": "fulfilled"})
    monkeypatch.undo()

    assert answer.status_code == 409
    assert (await client.get(appointment_url(appointment["id"]))).json() == appointment
    assert await invoices_of(client, patient["id"]) == []
    assert await sessions(client, patient["id"]) == []
    assert await ledger_total(engine) == 0
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM ledger_entries")) == 0
    # Its number was given back.
    following = await issued(client, patient["id"])
    assert following["number"] == f"{datetime.now(settings.clinic_zone).year}-000001"


async def test_an_appointment_is_billed_once(client, therapist, patient, service, engine):
    appointment = await book(client, patient["id"], therapist.id, service=service["id"])
    path = appointment_url(appointment["id"])

    answers = await asyncio.gather(
        *(client.patch(path, json={"status": "fulfilled"}) for _ in range(8))
    )

    # The same status again is no change: every one succeeds, one bills.
    assert [answer.status_code for answer in answers] == [200] * 8
    again = await client.patch(path, json={"status": "fulfilled"})
    assert again.status_code == 200
    assert (await client.post(f"{path}cancel/", json={})).status_code == 400
    (invoice,) = await invoices_of(client, patient["id"])
    assert invoice["appointment"] == appointment["id"]
    assert await numbers(engine) == [invoice["number"]]
    assert await ledger_total(engine) == 0


async def test_a_noshow_of_a_service_bills_its_fee_not_the_session(
    client, therapist, patient, service, settings, monkeypatch
):
    monkeypatch.setattr(settings, "noshow_fee", Decimal("25.00"))
    appointment = await book(client, patient["id"], therapist.id, service=service["id"])

    answer = await client.patch(appointment_url(appointment["id"]), json={"status": "noshow"})

    assert answer.status_code == 200
    (invoice,) = await invoices_of(client, patient["id"])
    assert (invoice["kind"], invoice["total"], invoice["status"]) == ("noshow_fee", "25.00", "open")
    assert invoice["lines"][0]["therapist"] == therapist.id
    assert invoice["lines"][0]["date_of_service"] == "2030-01-07"

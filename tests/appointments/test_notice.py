"""The notice period (CANCELLATION_NOTICE_HOURS) at its edge, on a frozen clock: a patient
cancels their own appointment up to exactly that long before it starts, and no later; staff
cancelling within it bill LATE_CANCELLATION_FEE as an invoice of its own, by the cancel action
(unless waive_fee) or by a PATCH to cancelled (which cannot waive it). The wallet is never
touched."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.appointments.conftest import assert_fee_invoice, book, invoices_of
from tests.clock import freeze

URL = "/api/appointments/"
START = "2030-01-07T09:00:00+01:00"
STARTS_AT = datetime.fromisoformat(START)
FEE = Decimal("10.00")
WALLET = Decimal("50.00")


def too_late(hours: str) -> dict[str, list[str]]:
    return {
        "non_field_errors": [
            f"Appointments can be cancelled up to {hours} hours before they start; "
            "call the practice."
        ]
    }


@pytest.fixture
def fee(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "late_cancellation_fee", FEE)
    monkeypatch.setattr(settings, "cancellation_notice_hours", 24)


async def booked(client: Any, patient_id: str, therapist_id: int) -> dict[str, Any]:
    funded = await client.post(
        f"/api/patients/{patient_id}/update_wallet/", json={"amount": str(WALLET)}
    )
    assert funded.status_code == 200, funded.text
    created: dict[str, Any] = await book(client, patient_id, therapist_id)
    return created


async def balance(client: Any, patient_id: str) -> Decimal:
    patient = (await client.get(f"/api/patients/{patient_id}/")).json()
    return Decimal(patient["wallet_balance"])


async def assert_billed(client: Any, patient_id: str, appointment_id: int, *, billed: bool) -> None:
    """The fee billed as one invoice (or none at all); the wallet untouched either way."""
    invoices = await invoices_of(client, patient_id)
    if billed:
        (invoice,) = invoices
        assert_fee_invoice(invoice, "late_cancellation_fee", str(FEE), appointment_id)
    else:
        assert invoices == []
    assert await balance(client, patient_id) == WALLET


# How long before the start the cancellation comes, and whether that is in time.
NOTICE = [
    (timedelta(hours=25), True),
    (timedelta(hours=24, minutes=1), True),
    (timedelta(hours=24), True),  # exactly the notice
    (timedelta(hours=24) - timedelta(microseconds=1), False),
    (timedelta(hours=23, minutes=59), False),  # a minute short
    (timedelta(0), False),  # as it starts
    (-timedelta(hours=1), False),  # once it has started
]


@pytest.mark.parametrize(("ahead", "in_time"), NOTICE)
async def test_a_patient_cancels_up_to_the_notice_and_no_later(
    client, therapist, patient, patient_client, monkeypatch, fee, ahead, in_time
):
    appointment = await booked(client, patient["id"], therapist.id)
    me = await patient_client(patient["id"])
    freeze(monkeypatch, STARTS_AT - ahead)

    response = await me.post(f"{URL}{appointment['id']}/cancel/", json={"reason": "Busy."})

    after = (await client.get(f"{URL}{appointment['id']}/")).json()
    if in_time:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
        assert after["status"] == "cancelled"
    else:
        assert response.status_code == 400
        assert response.json() == too_late("24")
        assert after == appointment
    # A patient's own cancellation is never billed.
    assert await invoices_of(client, patient["id"]) == []
    assert await balance(client, patient["id"]) == WALLET


@pytest.mark.parametrize("actor", ["admin", "therapist"])
@pytest.mark.parametrize(("ahead", "in_time"), NOTICE)
async def test_staff_cancelling_within_the_notice_bill_the_fee(
    client, therapist, patient, monkeypatch, fee, actor, ahead, in_time
):
    appointment = await booked(client, patient["id"], therapist.id)
    caller = client if actor == "admin" else therapist.client
    freeze(monkeypatch, STARTS_AT - ahead)

    response = await caller.post(f"{URL}{appointment['id']}/cancel/", json={})

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    await assert_billed(client, patient["id"], appointment["id"], billed=not in_time)


@pytest.mark.parametrize(("ahead", "in_time"), NOTICE)
async def test_a_waived_fee_is_not_billed(
    client, therapist, patient, monkeypatch, fee, ahead, in_time
):
    appointment = await booked(client, patient["id"], therapist.id)
    freeze(monkeypatch, STARTS_AT - ahead)

    response = await client.post(f"{URL}{appointment['id']}/cancel/", json={"waive_fee": True})

    assert response.status_code == 200, response.text
    await assert_billed(client, patient["id"], appointment["id"], billed=False)


@pytest.mark.parametrize(("ahead", "in_time"), NOTICE)
async def test_a_patch_to_cancelled_within_the_notice_bills_the_fee(
    client, therapist, patient, monkeypatch, fee, ahead, in_time
):
    appointment = await booked(client, patient["id"], therapist.id)
    freeze(monkeypatch, STARTS_AT - ahead)

    response = await client.patch(f"{URL}{appointment['id']}/", json={"status": "cancelled"})

    assert response.status_code == 200, response.text
    await assert_billed(client, patient["id"], appointment["id"], billed=not in_time)
    # Cancelled is final: a second cancellation is refused, and bills nothing twice.
    again = await client.post(f"{URL}{appointment['id']}/cancel/", json={})
    assert again.status_code == 400
    await assert_billed(client, patient["id"], appointment["id"], billed=not in_time)


@pytest.mark.parametrize(
    ("hours", "shown", "ahead", "in_time"),
    [
        (1.5, "1.5", timedelta(minutes=90), True),
        (1.5, "1.5", timedelta(minutes=89), False),
        (0.25, "0.25", timedelta(minutes=15), True),
        (0.25, "0.25", timedelta(minutes=14), False),
        # No notice at all: up to the very start.
        (0, "0", timedelta(0), True),
        (0, "0", -timedelta(minutes=1), False),
    ],
)
async def test_other_notice_periods_at_their_edge(
    client, therapist, patient, patient_client, settings, monkeypatch, hours, shown, ahead, in_time
):
    monkeypatch.setattr(settings, "cancellation_notice_hours", hours)
    appointment = await booked(client, patient["id"], therapist.id)
    me = await patient_client(patient["id"])
    freeze(monkeypatch, STARTS_AT - ahead)

    response = await me.post(f"{URL}{appointment['id']}/cancel/", json={})

    if in_time:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400
        assert response.json() == too_late(shown)

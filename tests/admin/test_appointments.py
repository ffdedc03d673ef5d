"""Appointments in the admin: the day per therapist, booking and cancelling through the API's
service (its availability, overlap and role rules), audited."""

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import text

from app.core.fields import DATETIME_RANGE
from tests.admin.conftest import audit_rows, field_errors
from tests.appointments.conftest import (
    assert_fee_invoice,
    book,
    invoices_of,
    set_hours,
    staff_id,
)
from tests.factories import create_patient

pytestmark = pytest.mark.usefixtures("anonymous")


@pytest.fixture
async def therapist_id(engine, staff_client) -> int:
    username = f"therapist-{uuid.uuid4().hex[:6]}"
    await staff_client("therapist", username)
    found = await staff_id(engine, username)
    await set_hours(engine, found, "08:00", "18:00")
    return found


def new_booking(patient: str, therapist: int, start: str, **extra: str) -> dict[str, str]:
    return {
        "patient": patient,
        "therapist": str(therapist),
        "start": start,
        "duration": "50",
        "kind": "video",
        "note": "",
        **extra,
    }


async def status_of(engine, appointment_id: int) -> str:
    async with engine.connect() as connection:
        found = await connection.scalar(
            text("SELECT status FROM appointments WHERE id = :id"), {"id": appointment_id}
        )
    return str(found)


async def test_the_day_lists_a_therapists_appointments_in_the_clinics_time(
    admin_login, client, engine, therapist_id
):
    patient = await create_patient(client)
    made = await book(
        client,
        patient["id"],
        therapist_id,
        start="2030-03-31T08:00:00Z",  # 10:00 in Berlin, after the change to summer time
        end="2030-03-31T08:50:00Z",
    )
    admin = await admin_login("admin")
    page = await admin.get(f"/admin/appointments?day=2030-03-31&therapist={therapist_id}")
    assert page.status_code == 200
    assert f'data-appointment="{made["id"]}"' in page.text
    assert "10:00 to 10:50" in page.text
    other_day = await admin.get(f"/admin/appointments?day=2030-03-30&therapist={therapist_id}")
    assert f'data-appointment="{made["id"]}"' not in other_day.text
    assert "No appointments." in other_day.text
    assert await audit_rows(engine, "admin_list_appointments")


async def test_an_admin_books_in_the_clinics_time_zone_and_a_clash_is_shown(
    admin_login, client, engine, therapist_id
):
    patient = await create_patient(client)
    admin = await admin_login("admin")
    booked = await admin.post(
        "/admin/appointments/new", data=new_booking(patient["id"], therapist_id, "2030-01-07T09:00")
    )
    assert booked.status_code == 302, booked.text
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT id, starts_at, kind FROM appointments WHERE patient_id = :p"),
                {"p": patient["id"]},
            )
        ).one()
    assert row.starts_at.isoformat() == "2030-01-07T08:00:00+00:00"  # 09:00 in Berlin
    assert row.kind == "video"
    clash = await admin.post(
        "/admin/appointments/new", data=new_booking(patient["id"], therapist_id, "2030-01-07T09:30")
    )
    assert clash.status_code == 409
    assert f"appointment {row.id}" in clash.text
    created = await audit_rows(engine, "admin_create_appointment")
    assert [event["status_code"] for event in created] == [200, 409]


async def test_outside_hours_is_refused_unless_an_admin_overrides(
    admin_login, client, engine, therapist_id
):
    patient = await create_patient(client)
    admin = await admin_login("admin")
    evening = new_booking(patient["id"], therapist_id, "2030-01-07T19:00")
    refused = await admin.post("/admin/appointments/new", data=evening)
    assert refused.status_code == 400
    assert field_errors(refused.text, "start")
    overridden = await admin.post(
        "/admin/appointments/new", data={**evening, "override_availability": "y"}
    )
    assert overridden.status_code == 302, overridden.text
    async with engine.connect() as connection:
        outside = await connection.scalar(
            text("SELECT outside_availability FROM appointments WHERE patient_id = :p"),
            {"p": patient["id"]},
        )
    assert outside is True


async def test_bad_form_values_are_shown_next_to_their_fields(admin_login, therapist_id):
    admin = await admin_login("admin")
    bad = await admin.post(
        "/admin/appointments/new",
        data=new_booking("nobody", therapist_id, "not a time", duration="ten"),
    )
    assert bad.status_code == 400
    assert field_errors(bad.text, "start")
    assert field_errors(bad.text, "duration")


@pytest.mark.parametrize("start", ["9999-12-31T23:59", "0001-01-01T00:00", "3000-01-01T00:00"])
async def test_a_start_at_the_calendars_edge_is_shown_next_to_it(
    admin_login, client, therapist_id, start
):
    """Its end, computed from it, would overflow: the start is refused before."""
    patient = await create_patient(client)
    admin = await admin_login("admin")
    bad = await admin.post(
        "/admin/appointments/new", data=new_booking(patient["id"], therapist_id, start)
    )
    assert bad.status_code == 400
    assert field_errors(bad.text, "start") == [DATETIME_RANGE]


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "3000-01-01"])
async def test_a_day_at_the_calendars_edge_shows_today(admin_login, day):
    admin = await admin_login("admin")
    page = await admin.get(f"/admin/appointments?day={day}")
    assert page.status_code == 200
    assert day not in page.text


async def test_a_therapist_books_and_cancels_only_their_own(
    admin_login, client, engine, therapist_id
):
    patient = await create_patient(client)
    other = await admin_login("therapist")
    page = await other.get("/admin/appointments/new")
    assert page.status_code == 200
    assert "override_availability" not in page.text
    refused = await other.post(
        "/admin/appointments/new", data=new_booking(patient["id"], therapist_id, "2030-01-07T09:00")
    )
    assert refused.status_code == 403
    made = await book(client, patient["id"], therapist_id)
    cancel = await other.post(f"/admin/appointments/{made['id']}/cancel", data={"reason": "x"})
    assert cancel.status_code == 302
    assert await status_of(engine, made["id"]) == "booked"


async def test_an_admin_cancels_and_it_is_audited(admin_login, client, engine, therapist_id):
    patient = await create_patient(client)
    made = await book(client, patient["id"], therapist_id)
    admin = await admin_login("admin")
    done = await admin.post(
        f"/admin/appointments/{made['id']}/cancel", data={"reason": "Therapist ill"}
    )
    assert done.status_code == 302
    assert await status_of(engine, made["id"]) == "cancelled"
    events = await audit_rows(engine, "admin_cancel_appointment")
    assert [event["patient_id"] for event in events] == [patient["id"]]
    missing = await admin.post("/admin/appointments/999999999/cancel", data={})
    assert missing.status_code == 404
    assert (await admin.post("/admin/appointments/abc/cancel", data={})).status_code == 404


async def test_an_admin_may_waive_the_late_cancellation_fee(
    app, admin_login, client, therapist_id, monkeypatch
):
    monkeypatch.setattr(app.state.settings, "late_cancellation_fee", Decimal("10.00"))
    monkeypatch.setattr(app.state.settings, "cancellation_notice_hours", 1_000_000)
    patient = await create_patient(client)
    await client.post(f"/api/patients/{patient['id']}/update_wallet/", json={"amount": "50.00"})
    first = await book(client, patient["id"], therapist_id)
    second = await book(
        client,
        patient["id"],
        therapist_id,
        start="2030-01-07T12:00:00+01:00",
        end="2030-01-07T12:50:00+01:00",
    )
    admin = await admin_login("admin")
    await admin.post(f"/admin/appointments/{first['id']}/cancel", data={"waive_fee": "1"})
    await admin.post(f"/admin/appointments/{second['id']}/cancel", data={"reason": "Late."})
    # The second is billed, as an invoice of its own; the wallet is not touched.
    (invoice,) = await invoices_of(client, patient["id"])
    assert_fee_invoice(invoice, "late_cancellation_fee", "10.00", second["id"])
    balance = (await client.get(f"/api/patients/{patient['id']}/")).json()["wallet_balance"]
    assert balance == "50.00"

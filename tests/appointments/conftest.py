"""Therapists with weekly hours (inserted directly), patients, bookings, and the invoices
they bring."""

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.factories import create_patient


@dataclass
class Therapist:
    id: int
    username: str
    client: httpx.AsyncClient


async def staff_id(engine, username: str) -> int:
    async with engine.connect() as connection:
        found = await connection.scalar(
            text("SELECT id FROM staff WHERE username = :u"), {"u": username}
        )
    return int(found)


async def set_hours(engine, therapist_id: int, starts: str = "08:00", ends: str = "20:00"):
    async with engine.begin() as connection:
        await connection.execute(
            text("DELETE FROM therapist_hours WHERE therapist_id = :t"), {"t": therapist_id}
        )
        for weekday in range(1, 8):
            await connection.execute(
                text(
                    "INSERT INTO therapist_hours (therapist_id, weekday, starts, ends) "
                    "VALUES (:t, :w, :s, :e)"
                ),
                {
                    "t": therapist_id,
                    "w": weekday,
                    "s": time.fromisoformat(starts),
                    "e": time.fromisoformat(ends),
                },
            )


@pytest.fixture
async def make_therapist(staff_client, engine):
    async def make(starts: str = "08:00", ends: str = "20:00") -> Therapist:
        username = f"therapist-{uuid.uuid4().hex[:6]}"
        client = await staff_client("therapist", username)
        therapist_id = await staff_id(engine, username)
        await set_hours(engine, therapist_id, starts, ends)
        return Therapist(therapist_id, username, client)

    return make


@pytest.fixture
async def therapist(make_therapist) -> Therapist:
    made: Therapist = await make_therapist()
    return made


@pytest.fixture
async def patient(client) -> dict[str, Any]:
    return await create_patient(client)


def body(patient: str | None, therapist: int, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "patient": patient,
        "therapist": therapist,
        "start": "2030-01-07T09:00:00+01:00",
        "end": "2030-01-07T09:50:00+01:00",
        "kind": "in_person",
    }
    if patient is None:
        del payload["patient"]
    payload.update(overrides)
    return payload


async def book(client: httpx.AsyncClient, patient: str | None, therapist: int, **overrides):
    response = await client.post("/api/appointments/", json=body(patient, therapist, **overrides))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def insert_appointment(
    engine, patient_id: str, therapist_id: int, status: str, start: str, end: str
) -> int:
    """An appointment written straight into the table, in any status: a test of one change of
    status starts from the status it names, not from the changes that would lead there."""
    async with engine.begin() as connection:
        value = await connection.scalar(
            text(
                "INSERT INTO appointments (patient_id, therapist_id, starts_at, ends_at, kind, "
                "status, created_by) VALUES (:p, :t, :s, :e, 'in_person', :status, 'test') "
                "RETURNING id"
            ),
            {
                "p": patient_id,
                "t": therapist_id,
                "s": datetime.fromisoformat(start),
                "e": datetime.fromisoformat(end),
                "status": status,
            },
        )
    return int(value)


async def invoices_of(client: httpx.AsyncClient, patient_id: str) -> list[dict[str, Any]]:
    """The patient's invoices, newest first (a fee is billed as an invoice of its own)."""
    response = await client.get("/api/invoices/", params={"patient": patient_id})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def assert_fee_invoice(invoice: dict[str, Any], kind: str, fee: str, appointment_id: int) -> None:
    """An issued fee: open, numbered, the fee its total and what it asks for, on one line."""
    assert invoice["kind"] == kind
    assert invoice["appointment"] == appointment_id
    assert invoice["status"] == "open"
    assert re.fullmatch(r"\d{4}-\d{6}", invoice["number"]), invoice["number"]
    assert (invoice["total"], invoice["amount_due"], invoice["amount_paid"]) == (fee, fee, "0.00")
    (line,) = invoice["lines"]
    what = "No-show fee" if kind == "noshow_fee" else "Late cancellation fee"
    assert line["description"] == f"{what} for appointment {appointment_id}"
    assert (line["quantity"], line["unit_price"], line["amount"]) == (1, fee, fee)

"""Patients, billable services and invoices for the invoice tests, made through the API (and
therapists with hours, from the appointments' tests), and the ledger read straight from its
tables."""

from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.appointments.conftest import (  # noqa: F401 - fixtures, used by name
    make_therapist,
    therapist,
)
from tests.factories import create_patient

URL = "/api/invoices/"
PASSWORD = "correct-horse"


def url(invoice_id: int, action: str = "") -> str:
    return f"{URL}{invoice_id}/{action + '/' if action else ''}"


@pytest.fixture
async def patient(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create_patient(client, password=PASSWORD)


async def add_service(
    client: httpx.AsyncClient, code: str = "90834", price: str = "120.00"
) -> dict[str, Any]:
    answer = await client.post(
        "/api/billable-services/",
        json={"code": code, "name": "Psychotherapy, 45 minutes", "duration_minutes": 45,
              "price": price},
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    service: dict[str, Any] = answer.json()
    return service


@pytest.fixture
async def service(client: httpx.AsyncClient) -> dict[str, Any]:
    return await add_service(client)


async def set_scale(client: httpx.AsyncClient, patient_id: str, percent: int) -> None:
    answer = await client.put(
        f"/api/patients/{patient_id}/sliding-scale/",
        json={"percent": percent, "reason": "Income-based."},
    )
    assert answer.status_code == 200, answer.text


def priced(description: str = "Copy of records", unit_price: str = "15.00", **more: Any) -> Any:
    return {"description": description, "unit_price": unit_price, **more}


async def draft(
    client: httpx.AsyncClient, patient_id: str, *lines: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """A manual draft (one priced line unless lines are given)."""
    answer = await client.post(
        URL, json={"patient": patient_id, "lines": list(lines) or [priced()], **fields}
    )
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


async def issue(client: httpx.AsyncClient, invoice_id: int) -> dict[str, Any]:
    answer = await client.post(url(invoice_id, "issue"))
    assert answer.status_code == 200, answer.text
    issued: dict[str, Any] = answer.json()
    return issued


async def issued(
    client: httpx.AsyncClient, patient_id: str, *lines: dict[str, Any]
) -> dict[str, Any]:
    made = await draft(client, patient_id, *lines)
    return await issue(client, made["id"])


async def ledger_total(engine: AsyncEngine) -> Decimal:
    async with engine.connect() as connection:
        total = await connection.scalar(text("SELECT sum(amount) FROM ledger_entries"))
    return Decimal(0) if total is None else Decimal(total)


async def receivable(engine: AsyncEngine, invoice_id: int) -> Decimal:
    """What the ledger says an invoice is owed: the sum of its receivable entries."""
    async with engine.connect() as connection:
        total = await connection.scalar(
            text(
                "SELECT coalesce(sum(amount), 0) FROM ledger_entries "
                "WHERE invoice_id = :i AND account = 'receivable'"
            ),
            {"i": invoice_id},
        )
    return Decimal(total)


async def numbers(engine: AsyncEngine) -> list[str]:
    """Every number issued, in order."""
    async with engine.connect() as connection:
        rows = await connection.scalars(
            text("SELECT number FROM invoices WHERE number IS NOT NULL ORDER BY year, sequence")
        )
        return list(rows)

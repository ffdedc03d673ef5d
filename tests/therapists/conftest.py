"""Therapists with a logged-in client each, a patient's client, and appointments written
straight into the table (booking them is app.appointments' business)."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.factories import create_patient

PATIENT_PASSWORD = "correct-horse"


@dataclass
class Therapist:
    id: int
    client: httpx.AsyncClient


@pytest.fixture
async def make_therapist(staff_client: Any, engine: Any) -> Callable[[], Awaitable[Therapist]]:
    """A therapist (with a fresh username) and a client logged in as them."""

    async def make() -> Therapist:
        username = f"therapist-{uuid.uuid4().hex[:8]}"
        client = await staff_client("therapist", username)
        return Therapist(await staff_id(engine, username), client)

    return make


async def staff_id(engine: Any, username: str) -> int:
    async with engine.connect() as connection:
        value = await connection.scalar(
            text("SELECT id FROM staff WHERE username = :u"), {"u": username}
        )
    assert value is not None
    return int(value)


@pytest.fixture
async def patient_client(
    app: FastAPI, client: httpx.AsyncClient, login: Any
) -> AsyncIterator[Callable[[], Awaitable[tuple[str, httpx.AsyncClient]]]]:
    """Makes a patient and a client logged in as them."""
    opened: list[httpx.AsyncClient] = []

    async def make() -> tuple[str, httpx.AsyncClient]:
        patient = await create_patient(client, password=PATIENT_PASSWORD)
        token = await login(patient["id"], PATIENT_PASSWORD)
        patient_http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {token}"},
        )
        opened.append(patient_http)
        return patient["id"], patient_http

    yield make
    for opened_client in opened:
        await opened_client.aclose()


async def insert_appointment(
    engine: Any,
    *,
    therapist_id: int,
    patient_id: str,
    start: datetime,
    end: datetime,
    status: str = "booked",
) -> int:
    async with engine.begin() as connection:
        value = await connection.scalar(
            text(
                "INSERT INTO appointments (patient_id, therapist_id, starts_at, ends_at, kind, "
                "status, created_by) VALUES (:p, :t, :s, :e, 'in_person', :status, 'test') "
                "RETURNING id"
            ),
            {"p": patient_id, "t": therapist_id, "s": start, "e": end, "status": status},
        )
    return int(value)

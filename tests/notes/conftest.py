"""An appointment of a therapist (the author) with a patient, and the other roles around it:
an admin, another therapist, the patient and another patient, each with a client."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from tests.appointments.conftest import (  # noqa: F401 - fixtures, used by name
    book,
    make_therapist,
)
from tests.conftest import KeptToken, Tables
from tests.factories import create_patient

SOAP = {
    "subjective": "Reports better sleep.",
    "objective": "Calm, engaged.",
    "assessment": "Improving.",
    "plan": "Continue weekly CBT.",
}


@dataclass
class Cast:
    appointment: dict[str, Any]
    patient_id: str
    author_id: int
    author_name: str
    other_id: int
    other_name: str
    admin: httpx.AsyncClient
    author: httpx.AsyncClient
    other: httpx.AsyncClient
    patient: httpx.AsyncClient
    stranger: httpx.AsyncClient  # another patient

    @property
    def notes(self) -> str:
        return f"/api/appointments/{self.appointment['id']}/notes/"

    def by(self, role: str) -> httpx.AsyncClient:
        client: httpx.AsyncClient = getattr(self, role)
        return client


ROLES = ("author", "other", "patient", "stranger")


async def make_cast(client, make_therapist, patient_client) -> Cast:  # noqa: F811
    author = await make_therapist()
    other = await make_therapist()
    patient = await create_patient(client)
    stranger = await create_patient(client)
    appointment = await book(client, patient["id"], author.id)
    return Cast(
        appointment=appointment,
        patient_id=patient["id"],
        author_id=author.id,
        author_name=author.username,
        other_id=other.id,
        other_name=other.username,
        admin=client,
        author=author.client,
        other=other.client,
        patient=await patient_client(patient["id"]),
        stranger=await patient_client(stranger["id"]),
    )


class Casting:
    """The cast made once per worker, as make_cast makes it; its rows (staff, patients, the
    booking, the logins' sessions, their audit events) are inserted again before each later
    test that uses `cast`, after `client`'s admin, and its clients keep the logins' tokens."""

    def __init__(self, app: FastAPI, tables: Tables) -> None:
        self.app = app
        self.tables = tables
        self._made: Cast | None = None
        self._rows = ""
        self._tokens: dict[str, KeptToken] = {}

    async def cast(self, client, make_therapist, patient_client) -> Cast:  # noqa: F811
        if self._made is None:
            before = await self.tables.rows()
            made = await make_cast(client, make_therapist, patient_client)
            self._rows = await self.tables.copy(excluding=before)
            self._tokens = {
                role: KeptToken(self.app, made.by(role).headers["Authorization"][len("Bearer ") :])
                for role in ROLES
            }
            self._made = made
            return made
        await self.tables.insert(self._rows)
        return replace(
            self._made,
            admin=client,
            author=self._client("author"),
            other=self._client("other"),
            patient=self._client("patient"),
            stranger=self._client("stranger"),
        )

    def _client(self, role: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {self._tokens[role].fresh()}"},
        )


@pytest.fixture(scope="session")
def casting(app: FastAPI, tables: Tables) -> Casting:
    return Casting(app, tables)


@pytest.fixture
async def cast(casting, client, make_therapist, patient_client) -> AsyncIterator[Cast]:  # noqa: F811
    made = await casting.cast(client, make_therapist, patient_client)
    yield made
    for role in ROLES:
        await made.by(role).aclose()


async def another_appointment(client, patient: str | None, therapist: int) -> dict[str, Any]:
    """An appointment besides the cast's, a week later (no overlap with it)."""
    booked: dict[str, Any] = await book(
        client,
        patient,
        therapist,
        start="2030-01-08T09:00:00+01:00",
        end="2030-01-08T09:50:00+01:00",
    )
    return booked


async def write_note(cast: Cast, **overrides: Any) -> dict[str, Any]:
    body = {"template": "SOAP", "fields": dict(SOAP), **overrides}
    response = await cast.author.post(cast.notes, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def signed_note(cast: Cast, **overrides: Any) -> dict[str, Any]:
    note = await write_note(cast, **overrides)
    response = await cast.author.post(f"{cast.notes}{note['id']}/sign/")
    assert response.status_code == 200, response.text
    signed: dict[str, Any] = response.json()
    return signed


def in_clinic_zone(value: str, zone: ZoneInfo) -> bool:
    """Whether a time the API wrote is in the clinic's zone (CLINIC_TIMEZONE) at that instant."""
    moment = datetime.fromisoformat(value)
    return moment.utcoffset() == moment.astimezone(zone).utcoffset()

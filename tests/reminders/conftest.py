"""Appointments and their outbox rows written with SQL (as the bookings write them), a therapist
and a patient made through the API, and a real SMTP server."""

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI

from app.core.config import Settings
from app.db.database import Database
from app.mail.mailer import SmtpMailer
from tests.factories import create_patient
from tests.mail.smtp import Inbox, free_port


class SlowInbox(Inbox):
    """An inbox that takes `delay` seconds to accept each message (it keeps it once accepted,
    whether or not the client is still there to hear so)."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay:
            await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)

    def message_ids(self) -> list[str]:
        return [str(message["Message-ID"]) for message in self.messages]


@pytest.fixture
def inbox() -> Iterator[tuple[SlowInbox, int]]:
    sink = SlowInbox()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def smtp_settings(settings: Settings, port: int, **overrides: Any) -> Settings:
    values = {
        "mail_smtp_host": "127.0.0.1",
        "mail_smtp_port": port,
        "mail_smtp_tls": "none",
        "mail_timeout_seconds": 5,
        "mail_from": "TherapyConnect <no-reply@clinic.example>",
        "clinic_timezone": "Europe/Berlin",
        **overrides,
    }
    return settings.model_copy(update=values)


def mailer(settings: Settings) -> SmtpMailer:
    return SmtpMailer(settings)


@dataclass
class Clinic:
    """A therapist and a patient to book, and the database to write with SQL."""

    database: Database
    therapist_id: int
    patient_id: str
    email: str

    async def execute(self, sql: str, *args: Any) -> None:
        async with self.database.connection() as connection:
            await connection.execute(sql, *args)

    async def value(self, sql: str, *args: Any) -> Any:
        async with self.database.connection() as connection:
            return await connection.fetchval(sql, *args)

    async def row(self, sql: str, *args: Any) -> dict[str, Any]:
        async with self.database.connection() as connection:
            record = await connection.fetchrow(sql, *args)
        assert record is not None
        return dict(record)

    async def book(
        self,
        starts_at: datetime,
        *,
        minutes: int = 50,
        status: str = "booked",
        kind: str = "in_person",
        patient_id: str | None = None,
    ) -> int:
        appointment: int = await self.value(
            "INSERT INTO appointments (patient_id, therapist_id, starts_at, ends_at, kind, status,"
            " created_by) VALUES ($1, $2, $3, $4, $5, $6, 'test') RETURNING id",
            patient_id or self.patient_id,
            self.therapist_id,
            starts_at,
            starts_at + timedelta(minutes=minutes),
            kind,
            status,
        )
        return appointment

    async def outbox(self, appointment_id: int, starts_at: datetime, due_at: datetime) -> int:
        """The row a booking writes (DESIGN-14.md), due at `due_at`."""
        key = f"appointment:{appointment_id}:{int(starts_at.timestamp())}"
        reminder: int = await self.value(
            "INSERT INTO appointment_reminders (appointment_id, starts_at, dedupe_key, due_at,"
            " next_attempt_at) VALUES ($1, $2, $3, $4, $4)"
            " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            appointment_id,
            starts_at,
            key,
            due_at,
        )
        return reminder

    async def due_reminder(self, starts_in: timedelta = timedelta(days=1)) -> tuple[int, int]:
        """A booked appointment `starts_in` from now whose reminder came due a minute ago."""
        starts_at = _whole_minute(datetime.now(UTC) + starts_in)
        appointment = await self.book(starts_at)
        reminder = await self.outbox(
            appointment, starts_at, datetime.now(UTC) - timedelta(minutes=1)
        )
        return appointment, reminder

    async def reminder(self, reminder_id: int) -> dict[str, Any]:
        return await self.row("SELECT * FROM appointment_reminders WHERE id = $1", reminder_id)

    async def fast_forward(self) -> None:
        """Time passes: every pending reminder's backoff or lease is over."""
        await self.execute(
            "UPDATE appointment_reminders SET next_attempt_at = now() WHERE state = 'pending'"
        )


def _whole_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


@pytest.fixture
async def clinic(app: FastAPI, client: httpx.AsyncClient) -> Clinic:
    """(`client` empties every table after the test.)"""
    database: Database = app.state.database
    email = f"jane-{uuid.uuid4().hex[:6]}@example.org"
    patient = await create_patient(client, email=email, first_name="Janeza", last_name="Doerina")
    async with database.connection() as connection:
        therapist_id = await connection.fetchval(
            "INSERT INTO staff (username, role, password_hash, display_name)"
            " VALUES ($1, 'therapist', 'x', 'Dr. Rivera') RETURNING id",
            f"rivera-{uuid.uuid4().hex[:6]}",
        )
    return Clinic(database, therapist_id, patient["id"], email)


def message_ids(messages: list[EmailMessage]) -> list[str]:
    return [str(message["Message-ID"]) for message in messages]

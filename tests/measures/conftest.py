"""The measures' API books with the appointments' therapists; the measures' worker against
PostgreSQL: the reminders' clinic (a therapist, a patient,
appointments written with SQL) and a real SMTP server, with assignments, staff and alerts written
as the API will write them, and a mailer that keeps what it is given."""

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

import aiosmtplib

from app.db.types import EncryptedText
from app.measures.alerts import raise_alert
from tests.appointments.conftest import make_therapist, therapist
from tests.reminders.conftest import Clinic, clinic, inbox

__all__ = [
    "Capturing",
    "assign",
    "clinic",
    "inbox",
    "make_therapist",
    "new_alert",
    "staff_member",
    "therapist",
]


@dataclass
class Capturing:
    """A mailer that keeps each message with its key; `down` sends fail (the server refuses
    the connection), `delay` seconds a send."""

    sent: list[tuple[EmailMessage, str | None]] = field(default_factory=list)
    down: int = 0
    delay: float = 0.0

    async def send(self, message: EmailMessage, *, key: str | None = None) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            self.down -= 1
            raise aiosmtplib.SMTPConnectError("Connection refused")
        self.sent.append((message, key))

    def to(self) -> list[str]:
        return [str(message["To"]) for message, _ in self.sent]

    def keys(self) -> list[str]:
        return [key or "" for _, key in self.sent]


async def assign(
    clinic: Clinic,
    schedule: str,
    *,
    every: int = 1,
    lead_minutes: int = 60,
    expires_after_minutes: int = 120,
    created_at: datetime | None = None,
) -> int:
    assignment: int = await clinic.value(
        "INSERT INTO measure_assignments (patient_id, instrument, schedule, every, lead_minutes,"
        " expires_after_minutes, therapist_id, created_by, created_at)"
        " VALUES ($1, 'phq9', $2, $3, $4, $5, $6, 'test', coalesce($7, now())) RETURNING id",
        clinic.patient_id,
        schedule,
        every,
        lead_minutes,
        expires_after_minutes,
        clinic.therapist_id,
        created_at,
    )
    return assignment


async def staff_member(
    clinic: Clinic, role: str, *, email: str | None = "", active: bool = True
) -> tuple[int, str]:
    """A staff member of `role` and their address ("" for none); one made up unless `email`
    is None."""
    name = f"{role}-{uuid.uuid4().hex[:6]}"
    address = f"{name}@clinic.example" if email == "" else email
    staff_id: int = await clinic.value(
        "INSERT INTO staff (username, role, password_hash, email, is_active)"
        " VALUES ($1, $2, 'x', $3, $4) RETURNING id",
        name,
        role,
        address,
        active,
    )
    return staff_id, address or ""


async def new_alert(clinic: Clinic, therapist_id: int | None, *, escalate_minutes: int = 60) -> int:
    """A response that met PHQ-9's item 9 rule, and its alert raised in the same transaction."""
    answers = EncryptedText("measure_responses.answers").process_bind_param(
        '{"item9": 2}',
        None,  # type: ignore[arg-type]
    )
    async with clinic.database.transaction() as transaction:
        response_id: int = await transaction.connection.fetchval(
            "INSERT INTO measure_responses (patient_id, instrument, answers, total, band)"
            " VALUES ($1, 'phq9', $2, 17, 'moderately severe') RETURNING id",
            clinic.patient_id,
            answers,
        )
        return await raise_alert(
            transaction,
            response_id=response_id,
            patient_id=clinic.patient_id,
            rule="phq9_item9",
            therapist_id=therapist_id,
            escalate_minutes=escalate_minutes,
        )

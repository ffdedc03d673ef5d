"""The shapes of reminders's data: the rows its statements return (TypedDicts, checked
against each statement when it is compiled: app.db.query)."""

from datetime import datetime
from typing import TypedDict


class ExhaustedRow(TypedDict):
    id: int
    appointment_id: int


class ClaimedRow(TypedDict):
    id: int
    appointment_id: int
    due_at: datetime
    dedupe_key: str
    attempts: int


class AtSendTimeRow(TypedDict):
    """A reminder at send time, and its appointment as it is now: outer joins, so all of the
    appointment's columns are null once it is gone (and the e-mail address may be)."""

    id: int
    reminder_starts_at: datetime
    appointment: int | None
    status: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    kind: str | None
    email: str | None
    therapist: str | None
    now: datetime


class SendableRow(TypedDict):
    """An AtSendTimeRow the reminder is sent for (app.reminders.service): its appointment
    exists, and the patient has an e-mail address."""

    id: int
    reminder_starts_at: datetime
    appointment: int
    status: str
    starts_at: datetime
    ends_at: datetime
    kind: str
    email: str
    therapist: str
    now: datetime


class IdRow(TypedDict):
    id: int


class ReleasedRow(TypedDict):
    released: int

"""The rows the therapists' statements return (app.db.query: checked against each statement
when it is compiled)."""

from datetime import datetime, time
from typing import TypedDict


class TherapistRow(TypedDict):
    """A therapist as the API shows them: the display name is the username when unset."""

    id: int
    display_name: str
    is_active: bool


class TherapistAccountRow(TypedDict):
    id: int
    username: str
    is_active: bool


class IdRow(TypedDict):
    id: int


class TherapistLockRow(TypedDict):
    therapist: None  # pg_advisory_xact_lock is void


class HoursRow(TypedDict):
    weekday: int
    starts: time
    ends: time


class PeriodRow(TypedDict):
    starts_at: datetime
    ends_at: datetime


class TimeOffRow(TypedDict):
    id: int
    starts_at: datetime
    ends_at: datetime
    reason: str | None
    created_at: datetime

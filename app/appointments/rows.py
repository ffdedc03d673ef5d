"""The rows the appointments' statements return (app.db.query: checked against each statement
when it is compiled)."""

from datetime import datetime
from decimal import Decimal
from typing import TypedDict


class AppointmentRow(TypedDict):
    """Every column of an appointment but created_by."""

    id: int
    patient_id: str
    therapist_id: int
    starts_at: datetime
    ends_at: datetime
    kind: str
    status: str
    cancellation_reason: str | None
    note: str | None
    series_id: int | None
    outside_availability: bool
    version: int
    created_at: datetime
    updated_at: datetime


class SeriesRow(TypedDict):
    id: int
    rrule: str
    patient_id: str
    therapist_id: int
    created_by: str
    created_at: datetime


class IdRow(TypedDict):
    id: int


class PartyLocksRow(TypedDict):
    therapist: None  # pg_advisory_xact_lock is void
    patient: None


class StaffNameRow(TypedDict):
    name: str


class WalletBalanceRow(TypedDict):
    """The one column of a patient's row that a fee needs."""

    wallet_balance: Decimal

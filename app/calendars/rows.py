"""The rows the calendar feeds' statements return (app.db.query: checked against each statement
when it is compiled)."""

from datetime import datetime
from typing import TypedDict


class FeedTherapistIdRow(TypedDict):
    therapist_id: int


class FeedRow(TypedDict):
    therapist_id: int
    therapist: str


class EventRow(TypedDict):
    id: int
    starts_at: datetime
    ends_at: datetime
    kind: str
    status: str
    version: int
    updated_at: datetime
    patient: str

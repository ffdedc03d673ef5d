from datetime import datetime
from typing import TypedDict

from pydantic import ConfigDict

from app.core.schemas import BaseSchema


# The rows its statements return: TypedDicts, checked against each statement when it is
# compiled (app.db.query).
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


class CalendarFeedRead(BaseSchema):
    url: str

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"url": "https://api.example.org/api/calendars/Xy3Q.ics"}]}
    )

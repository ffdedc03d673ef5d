"""What the therapists' endpoints read and answer: every rule of their fields, once. Datetimes
come in with an offset and go out in the clinic's time zone (the service converts them)."""

from collections.abc import Iterable
from datetime import datetime, time
from itertools import pairwise
from typing import Annotated, Any, ClassVar, TypedDict
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from app.core.fields import Instant, Npi, Omittable, Text, blank_to_none, error, not_bool
from app.core.schemas import BaseSchema
from app.models.scheduling import REASON_MAX_LENGTH
from app.therapists.hours import Stretch as WeeklyStretch


# The rows its statements return: TypedDicts, checked against each statement when it is
# compiled (app.db.query).
class TherapistRow(TypedDict):
    """A therapist as the API shows them: the display name is the username when unset."""

    id: int
    display_name: str
    is_active: bool
    npi: str | None


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


DISPLAY_NAME_MAX_LENGTH = 150
MAX_STRETCHES = 70  # ten a day
DURATION_MIN, DURATION_MAX = 5, 480  # minutes
STEP_MIN, STEP_MAX = 5, 240  # minutes
MAX_WINDOW_DAYS = 31
DEFAULT_WINDOW_DAYS = 7

THERAPIST: dict[str, Any] = {
    "id": 7,
    "display_name": "Dr. Rivera",
    "is_active": True,
    "npi": "1003000126",
}
THERAPIST_UPDATE: dict[str, Any] = {"display_name": "Dr. Rivera", "npi": "1003000126"}
HOURS: dict[str, Any] = {
    "timezone": "Europe/Berlin",
    "hours": [
        {"weekday": 1, "start": "09:00", "end": "12:00"},
        {"weekday": 1, "start": "13:00", "end": "17:00"},
        {"weekday": 3, "start": "09:00", "end": "17:00"},
    ],
}
HOURS_UPDATE: dict[str, Any] = {"hours": HOURS["hours"]}
TIME_OFF_CREATE: dict[str, Any] = {
    "start": "2026-08-03T00:00:00+02:00",
    "end": "2026-08-15T00:00:00+02:00",
    "reason": "Leave",
}
TIME_OFF: dict[str, Any] = {
    "id": 12,
    **TIME_OFF_CREATE,
    "created_at": "2026-05-01T15:40:12.001000+02:00",
}
AVAILABILITY: dict[str, Any] = {
    "therapist": 7,
    "timezone": "Europe/Berlin",
    "duration": 30,
    "slots": [
        {"start": "2026-03-30T09:00:00+02:00", "end": "2026-03-30T09:30:00+02:00"},
        {"start": "2026-03-30T09:15:00+02:00", "end": "2026-03-30T09:45:00+02:00"},
    ],
}


def _whole_minute(value: time) -> time:
    if value.second or value.microsecond or value.tzinfo is not None:
        raise error("time_format", "Use a local time of day as HH:MM, e.g. 09:00.")
    return value


ClockTime = Annotated[
    time,
    AfterValidator(_whole_minute),
    PlainSerializer(lambda value: value.strftime("%H:%M"), return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:00)?$",
            "description": "A wall-clock time in the clinic's time zone, HH:MM.",
            "examples": ["09:00"],
        }
    ),
]
DisplayName = Annotated[Text, Field(min_length=1, max_length=DISPLAY_NAME_MAX_LENGTH)]
Reason = Annotated[Text, Field(max_length=REASON_MAX_LENGTH)]


def _five_minutes(value: int) -> int:
    if value % 5:
        raise error("multiple_of", "Ensure this value is a multiple of 5.")
    return value


Minutes = Annotated[int, AfterValidator(_five_minutes)]


class TherapistRead(BaseSchema):
    """A therapist: a staff member with the therapist role. `display_name` is their username
    until one is set."""

    model_config = ConfigDict(json_schema_extra={"examples": [THERAPIST]})
    list_path: ClassVar[str] = "/api/therapists/"

    id: int
    display_name: str
    is_active: bool
    npi: str | None = Field(
        description="The therapist's (type 1) National Provider Identifier, as a superbill "
        "names them; null when unset.",
        examples=["1003000126"],
    )


class TherapistUpdate(BaseSchema):
    """PATCH: the name patients and calendars show, and (admins only) the NPI."""

    model_config = ConfigDict(json_schema_extra={"examples": [THERAPIST_UPDATE]})

    display_name: Omittable[DisplayName] = Field(
        default=None, description="One line of text: no line break, tab or control character."
    )
    npi: Npi | None = Field(
        default=None,
        description="The therapist's NPI (admins only); null clears it. A National Provider "
        "Identifier: 10 digits, the last its check digit.",
    )


class TherapistListQuery(BaseSchema):
    """The list's filter and ordering."""

    is_active: Annotated[bool | None, BeforeValidator(blank_to_none)] = Field(
        default=None, description="Only active (true) or inactive (false) therapists."
    )
    ordering: str | None = Field(
        default=None,
        description="display_name or id, '-' for descending; default display_name.",
        examples=["display_name"],
    )

    def ordering_term(self) -> tuple[str, bool]:
        """(column, descending); an unknown field falls back, as DRF's OrderingFilter does."""
        for raw in (self.ordering or "").split(","):
            term = raw.strip()
            if term.removeprefix("-") in ("display_name", "id"):
                return term.removeprefix("-"), term.startswith("-")
        return "display_name", False


class Stretch(BaseSchema):
    """Working hours on one weekday (ISO: 1 is Monday), as the clinic's wall clock shows them."""

    weekday: Annotated[int, not_bool("A valid integer is required."), Field(ge=1, le=7)]
    start: ClockTime
    end: ClockTime


def _check_week(stretches: list[Stretch]) -> list[Stretch]:
    for number, stretch in enumerate(stretches, start=1):
        if stretch.start >= stretch.end:
            raise error("stretch_order", f"Item {number}: start must be before end.")
    ordered = sorted(stretches, key=lambda s: (s.weekday, s.start))
    for before, after in pairwise(ordered):
        if before.weekday == after.weekday and after.start < before.end:
            raise error(
                "stretch_overlap",
                f"Hours on weekday {after.weekday} overlap: {before.start:%H:%M}-"
                f"{before.end:%H:%M} and {after.start:%H:%M}-{after.end:%H:%M}.",
            )
    return ordered


Week = Annotated[list[Stretch], Field(max_length=MAX_STRETCHES), AfterValidator(_check_week)]


class HoursUpdate(BaseSchema):
    """PUT: the whole week; a weekday without hours is a day off."""

    model_config = ConfigDict(json_schema_extra={"examples": [HOURS_UPDATE]})

    hours: Week

    def week(self) -> list[WeeklyStretch]:
        return [WeeklyStretch(s.weekday, s.start, s.end) for s in self.hours]


class HoursRead(BaseSchema):
    """A therapist's weekly hours, in the clinic's time zone, by weekday and start."""

    model_config = ConfigDict(json_schema_extra={"examples": [HOURS]})

    timezone: str = Field(description="The IANA time zone of the hours: CLINIC_TIMEZONE.")
    hours: list[Stretch]

    @classmethod
    def of(cls, zone: ZoneInfo, week: Iterable[WeeklyStretch]) -> "HoursRead":
        return cls(
            timezone=zone.key,
            hours=[Stretch(weekday=s.weekday, start=s.starts, end=s.ends) for s in week],
        )


class TimeOffCreate(BaseSchema):
    """A stretch of time off: [start, end), each with its offset."""

    model_config = ConfigDict(json_schema_extra={"examples": [TIME_OFF_CREATE]})

    start: Instant
    end: Instant
    reason: Reason | None = None


class TimeOffRead(BaseSchema):
    """A stretch of a therapist's time off, in the clinic's time zone."""

    model_config = ConfigDict(json_schema_extra={"examples": [TIME_OFF]})
    list_path: ClassVar[str] = "/api/therapists/7/time_off/"

    id: int
    start: datetime
    end: datetime
    reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: TimeOffRow, zone: ZoneInfo) -> "TimeOffRead":
        return cls(
            id=row["id"],
            start=row["starts_at"].astimezone(zone),
            end=row["ends_at"].astimezone(zone),
            reason=row["reason"],
            created_at=row["created_at"].astimezone(zone),
        )


class AvailabilityQuery(BaseSchema):
    """The window to search, and the slot's length and grid."""

    model_config = ConfigDict(populate_by_name=True)

    start: Instant | None = Field(
        default=None,
        alias="from",
        description="From (ISO 8601 with offset); default now. Never earlier than now.",
        examples=["2026-03-30T00:00:00+02:00"],
    )
    end: Instant | None = Field(
        default=None,
        alias="to",
        description=f"To (ISO 8601 with offset); default from + {DEFAULT_WINDOW_DAYS} days; "
        f"at most {MAX_WINDOW_DAYS} days after from.",
        examples=["2026-04-06T00:00:00+02:00"],
    )
    duration: Minutes = Field(
        default=30,
        ge=DURATION_MIN,
        le=DURATION_MAX,
        json_schema_extra={"multipleOf": 5},
        description="Minutes of the slot: 5 to 480, a multiple of 5.",
    )
    step: Minutes = Field(
        default=15,
        ge=STEP_MIN,
        le=STEP_MAX,
        json_schema_extra={"multipleOf": 5},
        description="Minutes between the starts, on the clinic's clock from midnight: 5 to 240, "
        "a multiple of 5.",
    )


class Slot(BaseSchema):
    start: datetime
    end: datetime


class AvailabilityRead(BaseSchema):
    """The free start times, in the clinic's time zone."""

    model_config = ConfigDict(json_schema_extra={"examples": [AVAILABILITY]})

    therapist: int
    timezone: str
    duration: int = Field(description="Minutes of each slot.")
    slots: list[Slot]

    @classmethod
    def of(
        cls,
        therapist_id: int,
        zone: ZoneInfo,
        duration: int,
        slots: list[tuple[datetime, datetime]],
    ) -> "AvailabilityRead":
        return cls(
            therapist=therapist_id,
            timezone=zone.key,
            duration=duration,
            slots=[
                Slot(start=start.astimezone(zone), end=end.astimezone(zone)) for start, end in slots
            ],
        )

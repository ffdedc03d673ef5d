"""The appointments' request and response bodies, and the rules of their fields."""

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, TypedDict
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, ConfigDict, Field, StrictBool

from app.core.fields import (
    Instant,
    MultilineText,
    Omittable,
    Text,
    blank_to_none,
    drop_blank,
    not_bool,
)
from app.core.ids import BIGINT_MAX
from app.core.schemas import BaseSchema
from app.models.patient import PATIENT_ID
from app.models.scheduling import NOTE_MAX_LENGTH, REASON_MAX_LENGTH, STATUSES


# The rows its statements return: TypedDicts, checked against each statement when it is
# compiled (app.db.query).
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
    service_id: int | None
    outside_availability: bool
    version: int
    created_at: datetime
    updated_at: datetime


class SeriesRow(TypedDict):
    id: int
    rrule: str
    patient_id: str
    therapist_id: int
    service_id: int | None
    created_by: str
    created_at: datetime


class IdRow(TypedDict):
    id: int


class PartyLocksRow(TypedDict):
    therapist: None  # pg_advisory_xact_lock is void
    patient: None


class PartyLocksServiceRow(PartyLocksRow):
    service: bool  # the billable service exists and is not deleted


class StaffNameRow(TypedDict):
    name: str


Kind = Literal["in_person", "video"]
Status = Literal[
    "proposed",
    "booked",
    "arrived",
    "checked-in",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
]
NewStatus = Literal["proposed", "booked"]
assert set(Status.__args__) == set(STATUSES)  # type: ignore[attr-defined]

# The legal changes of status (FHIR R4's Appointment.status, as a practice uses it); any other
# is a 400 on `status`. The last four are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"booked", "cancelled", "entered-in-error"}),
    "booked": frozenset(
        {"arrived", "checked-in", "fulfilled", "cancelled", "noshow", "entered-in-error"}
    ),
    "arrived": frozenset({"checked-in", "fulfilled", "noshow", "entered-in-error"}),
    "checked-in": frozenset({"fulfilled", "entered-in-error"}),
    "fulfilled": frozenset(),
    "cancelled": frozenset(),
    "noshow": frozenset(),
    "entered-in-error": frozenset(),
}
# What may be moved (a new start or end) or cancelled.
MOVABLE = frozenset({"proposed", "booked"})
MIN_MINUTES, MAX_MINUTES = 5, 480

Note = Annotated[MultilineText, Field(max_length=NOTE_MAX_LENGTH)]
Reason = Annotated[Text, Field(max_length=REASON_MAX_LENGTH)]
TherapistId = Annotated[int, not_bool("A valid integer is required."), Field(ge=1, le=2**31 - 1)]
PatientRef = Annotated[str, Field(pattern=f"^{PATIENT_ID.pattern}$", examples=["p_zxcp0h"])]
# Bounds before the bool check, so the schema states them as minimum and maximum.
ServiceRef = Annotated[int, Field(ge=1, le=BIGINT_MAX), not_bool("A valid integer is required.")]
SERVICE = "The billable service's id (GET /api/billable-services/), or null for none."

APPOINTMENT_CREATE: dict[str, Any] = {
    "patient": "p_zxcp0h",
    "therapist": 7,
    "start": "2026-03-30T09:00:00+02:00",
    "end": "2026-03-30T09:50:00+02:00",
    "kind": "in_person",
    "service": 3,
    "note": "First session.",
}
APPOINTMENT: dict[str, Any] = {
    "id": 123,
    "patient": "p_zxcp0h",
    "therapist": 7,
    "start": "2026-03-30T09:00:00+02:00",
    "end": "2026-03-30T09:50:00+02:00",
    "kind": "in_person",
    "status": "cancelled",
    "cancellation_reason": "Patient is ill.",
    "note": "First session.",
    "series": 4,
    "service": 3,
    "outside_availability": False,
    "created_at": "2026-03-01T10:12:00+01:00",
    "updated_at": "2026-03-01T10:12:00+01:00",
}
APPOINTMENT_UPDATE: dict[str, Any] = {"status": "fulfilled"}
APPOINTMENT_CANCEL: dict[str, Any] = {"reason": "Patient is ill.", "waive_fee": True}
SERIES_CREATE: dict[str, Any] = {
    **APPOINTMENT_CREATE,
    "rrule": "FREQ=WEEKLY;INTERVAL=2;COUNT=10",
    "skip_conflicts": False,
}
SERIES: dict[str, Any] = {
    "id": 4,
    "rrule": "FREQ=WEEKLY;INTERVAL=2;COUNT=10",
    "patient": "p_zxcp0h",
    "therapist": 7,
    "service": 3,
    "appointments": [APPOINTMENT],
    "skipped": [
        {
            "start": "2026-04-13T09:00:00+02:00",
            "end": "2026-04-13T09:50:00+02:00",
            "reason": "overlap",
            "conflicting_appointment": 98,
        }
    ],
    "created_at": "2026-03-01T10:12:00+01:00",
}
SERIES_CANCEL: dict[str, Any] = {"from": "2026-05-01T00:00:00+02:00", "reason": "Therapy ended."}


class AppointmentCreate(BaseSchema):
    """A new appointment: `patient` defaults to the caller when they are a patient."""

    model_config = ConfigDict(json_schema_extra={"examples": [APPOINTMENT_CREATE]})

    patient: Omittable[PatientRef] = Field(
        default=None, description="The patient's id; a patient booking for themself may omit it."
    )
    therapist: TherapistId = Field(description="The therapist's staff id.", examples=[7])
    start: Instant
    end: Instant
    kind: Kind = "in_person"
    service: ServiceRef | None = Field(default=None, description=SERVICE, examples=[3])
    status: NewStatus = Field(default="booked", description="proposed or booked (the default).")
    note: Note | None = None
    override_availability: StrictBool = Field(
        default=False,
        description="Admins only: book outside the therapist's hours or in their time off "
        "(never over another appointment). Stored as `outside_availability`, and audited.",
    )


class AppointmentUpdate(BaseSchema):
    """PATCH: any of these; `status` only along the legal transitions."""

    model_config = ConfigDict(json_schema_extra={"examples": [APPOINTMENT_UPDATE]})

    start: Omittable[Instant] = None
    end: Omittable[Instant] = None
    kind: Omittable[Kind] = None
    service: ServiceRef | None = Field(
        default=None,
        description=f"{SERVICE} It changes until the appointment is fulfilled, cancelled, "
        "noshow or entered-in-error.",
        examples=[3],
    )
    note: Note | None = None
    status: Omittable[Status] = None
    cancellation_reason: Reason | None = None
    override_availability: StrictBool = Field(
        default=False,
        description="Admins only: move it outside the therapist's hours or into their time off.",
    )


class AppointmentCancel(BaseSchema):
    """Why; and, for staff, whether to waive the late-cancellation fee."""

    model_config = ConfigDict(json_schema_extra={"examples": [APPOINTMENT_CANCEL]})

    reason: Reason | None = None
    waive_fee: StrictBool = Field(
        default=False, description="Staff only: no late-cancellation fee."
    )


class AppointmentRead(BaseSchema):
    """An appointment; its times in the clinic's time zone, with their offset."""

    model_config = ConfigDict(json_schema_extra={"examples": [APPOINTMENT]})
    list_path: ClassVar[str] = "/api/appointments/"

    id: int
    patient: str
    therapist: int
    start: datetime
    end: datetime
    kind: Kind
    status: Status
    cancellation_reason: str | None
    note: str | None
    series: int | None
    service: int | None = Field(description="The billable service's id; null when none.")
    outside_availability: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: AppointmentRow, zone: ZoneInfo) -> "AppointmentRead":
        return cls(
            id=row["id"],
            patient=row["patient_id"],
            therapist=row["therapist_id"],
            start=row["starts_at"].astimezone(zone),
            end=row["ends_at"].astimezone(zone),
            kind=row["kind"],
            status=row["status"],
            cancellation_reason=row["cancellation_reason"],
            note=row["note"],
            series=row["series_id"],
            service=row["service_id"],
            outside_availability=row["outside_availability"],
            created_at=row["created_at"].astimezone(zone),
            updated_at=row["updated_at"].astimezone(zone),
        )


class Occurrence(BaseSchema):
    """An occurrence of a series that could not be booked, and why."""

    start: datetime
    end: datetime
    reason: Literal["overlap", "unavailable"]
    conflicting_appointment: int | None = Field(
        description="The appointment it overlaps; null when it is unavailable, or overlaps "
        "another occurrence of the same series."
    )


class SeriesCreate(AppointmentCreate):
    """A weekly series: `start` and `end` are its first occurrence."""

    model_config = ConfigDict(json_schema_extra={"examples": [SERIES_CREATE]})

    rrule: Annotated[Text, Field(min_length=1, max_length=500)] = Field(
        description="An RFC 5545 RRULE: FREQ=WEEKLY, optional BYDAY, INTERVAL 1-4, and COUNT or "
        "UNTIL; at most 52 occurrences.",
        examples=["FREQ=WEEKLY;INTERVAL=2;COUNT=10"],
    )
    skip_conflicts: StrictBool = Field(
        default=False,
        description="Book the occurrences that are free and list the others under `skipped`, "
        "rather than refuse the whole series (409).",
    )


class SeriesRead(BaseSchema):
    """A series and its appointments, earliest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [SERIES]})

    id: int
    rrule: str
    patient: str
    therapist: int
    service: int | None = Field(
        description="The billable service's id, given to each occurrence; null when none."
    )
    appointments: list[AppointmentRead]
    skipped: list[Occurrence] = Field(
        default_factory=list,
        description="The occurrences not booked (with skip_conflicts); empty when read later.",
    )
    created_at: datetime


class SeriesCancel(BaseSchema):
    """Cancel the series' proposed and booked appointments that start at or after `from`."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [SERIES_CANCEL]}, populate_by_name=True
    )

    from_: Instant | None = Field(default=None, alias="from", description="Default: now.")
    reason: Reason | None = None


ORDERABLE = ("start", "created_at", "updated_at")


class AppointmentListQuery(BaseSchema):
    """The list's filters and ordering; empty values are ignored."""

    therapist: Annotated[
        Annotated[int, Field(ge=1, le=2**31 - 1)] | None, BeforeValidator(blank_to_none)
    ] = Field(default=None, description="The therapist's staff id.")
    patient: Annotated[PatientRef | None, BeforeValidator(blank_to_none)] = Field(
        default=None, description="The patient's id (a patient sees only their own anyway)."
    )
    status: Annotated[list[Status], BeforeValidator(drop_blank)] = Field(
        default_factory=list, max_length=8, description="Repeat for any of several."
    )
    start_after: Annotated[Instant | None, BeforeValidator(blank_to_none)] = Field(
        default=None, description="Only those starting at or after this instant."
    )
    start_before: Annotated[Instant | None, BeforeValidator(blank_to_none)] = Field(
        default=None, description="Only those starting before this instant."
    )
    ordering: str | None = Field(
        default=None,
        description="One of start, created_at, updated_at; '-' for descending; default start.",
        examples=["-start"],
    )

    def ordering_term(self) -> tuple[str, bool]:
        for raw in (self.ordering or "").split(","):
            term = raw.strip()
            if term.removeprefix("-") in ORDERABLE:
                return term.removeprefix("-"), term.startswith("-")
        return "start", False


CONFLICT_EXAMPLE: dict[str, Any] = {
    "detail": "The therapist already has appointment 123 at that time.",
    "conflicting_appointment": 123,
}
SERIES_CONFLICT_EXAMPLE: dict[str, Any] = {
    "detail": "1 of the series' occurrences cannot be booked; nothing was booked. "
    "Send skip_conflicts=true to book the others.",
    "conflicts": [SERIES["skipped"][0]],
}


class ConflictBody(BaseSchema):
    """409: the appointment it would overlap (or, without it, an Idempotency-Key in use)."""

    model_config = ConfigDict(json_schema_extra={"examples": [CONFLICT_EXAMPLE]})

    detail: str
    conflicting_appointment: int | None = Field(
        default=None, description="The active appointment holding the time (when known)."
    )


class SeriesConflictBody(BaseSchema):
    """409 of a series: each occurrence that cannot be booked, and why."""

    model_config = ConfigDict(json_schema_extra={"examples": [SERIES_CONFLICT_EXAMPLE]})

    detail: str
    conflicts: list[Occurrence] = Field(default_factory=list)

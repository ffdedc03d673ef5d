"""What the measures' endpoints read and answer; every rule of their fields, once."""

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, TypedDict

from pydantic import BeforeValidator, ConfigDict, Field, StrictInt

from app.core.fields import MultilineText, Text, blank_to_none, not_bool
from app.core.ids import BIGINT_MAX
from app.core.schemas import BaseSchema
from app.models.measures import INSTRUMENT_MAX_LENGTH, NOTE_MAX_LENGTH


class AssignmentRow(TypedDict):
    id: int
    patient_id: str
    instrument: str
    schedule: str
    every: int
    lead_minutes: int
    expires_after_minutes: int
    therapist_id: int | None
    created_by: str
    created_at: datetime
    ended_at: datetime | None


class RequestRow(TypedDict):
    id: int
    assignment_id: int | None
    patient_id: str
    instrument: str
    appointment_id: int | None
    due_at: datetime
    expires_at: datetime
    status: str
    sent_at: datetime | None
    created_at: datetime


class ResponseRow(TypedDict):
    id: int
    request_id: int | None
    patient_id: str
    instrument: str
    answers: str
    total: int
    band: str
    administered_by_id: int | None
    administered_by: str | None
    created_at: datetime


class AlertRow(TypedDict):
    id: int
    response_id: int
    patient_id: str
    rule: str
    therapist_id: int | None
    status: str
    escalate_at: datetime
    escalated_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    note: str | None
    created_at: datetime


class IdRow(TypedDict):
    id: int


class TreatsRow(TypedDict):
    treats: bool


class TherapistRow(TypedDict):
    therapist_id: int


Instrument = Annotated[
    Text,
    Field(
        min_length=1,
        max_length=INSTRUMENT_MAX_LENGTH,
        description="An instrument's id (GET /api/instruments/), e.g. phq9.",
        examples=["phq9"],
    ),
]
StaffRef = Annotated[int, Field(ge=1, le=2**31 - 1), not_bool("A valid integer is required.")]

ASSIGNMENT_CREATE: dict[str, Any] = {
    "instrument": "phq9",
    "schedule": "before_each",
    "lead_minutes": 1440,
    "expires_after_minutes": 2880,
    "therapist": 7,
}
ASSIGNMENT: dict[str, Any] = {
    "id": 31,
    "patient": "p_zxcp0h",
    **ASSIGNMENT_CREATE,
    "every": 1,
    "created_by": "jdoe",
    "created_at": "2026-12-01T09:30:00.120000Z",
    "ended_at": None,
}


class AssignmentCreate(BaseSchema):
    """Assign an instrument: once (a request due now), before every appointment, or before
    every Nth (`every`), `lead_minutes` ahead of its start."""

    model_config = ConfigDict(json_schema_extra={"examples": [ASSIGNMENT_CREATE]})

    instrument: Instrument
    schedule: Literal["once", "before_each", "every_nth"]
    every: Annotated[int, Field(ge=1, le=52), not_bool("A valid integer is required.")] = Field(
        default=1, description="With every_nth: a request before every Nth appointment (1-52)."
    )
    lead_minutes: Annotated[
        int, Field(ge=0, le=20160), not_bool("A valid integer is required.")
    ] = Field(default=1440, description="Minutes before the appointment's start it is due.")
    expires_after_minutes: Annotated[
        int, Field(ge=15, le=43200), not_bool("A valid integer is required.")
    ] = Field(default=2880, description="Minutes after it is due that a request expires.")
    therapist: StaffRef | None = Field(
        default=None,
        description="The treating therapist, told of a safety alert at once; the one assigning "
        "by default, when a therapist.",
    )


class AssignmentRead(BaseSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [ASSIGNMENT]})
    list_path: ClassVar[str] = "/api/patients/p_zxcp0h/measure-assignments/"

    id: int
    patient: str
    instrument: str
    schedule: str
    every: int
    lead_minutes: int
    expires_after_minutes: int
    therapist: int | None = None
    created_by: str
    created_at: datetime
    ended_at: datetime | None = None

    @classmethod
    def of(cls, row: AssignmentRow) -> "AssignmentRead":
        return cls.model_validate(
            {**row, "patient": row["patient_id"], "therapist": row["therapist_id"]}
        )


REQUEST: dict[str, Any] = {
    "id": 120,
    "instrument": "phq9",
    "appointment": 1042,
    "due_at": "2026-12-01T09:00:00Z",
    "expires_at": "2026-12-03T09:00:00Z",
    "status": "sent",
    "sent_at": "2026-12-01T09:00:12Z",
}


class RequestRead(BaseSchema):
    """A request to answer an instrument: `scheduled`, `sent`, `answered`, `expired`,
    `cancelled` (its appointment was) or `failed` (it could not be mailed)."""

    model_config = ConfigDict(json_schema_extra={"examples": [REQUEST]})
    list_path: ClassVar[str] = "/api/patients/p_zxcp0h/measure-requests/"

    id: int
    instrument: str
    appointment: int | None = None
    due_at: datetime
    expires_at: datetime
    status: str
    sent_at: datetime | None = None

    @classmethod
    def of(cls, row: RequestRow) -> "RequestRead":
        return cls.model_validate({**row, "appointment": row["appointment_id"]})


Answers = Annotated[
    dict[Annotated[str, Field(max_length=16)], StrictInt],
    Field(
        max_length=60,
        description="Each item's linkId and the value of the answer chosen (0-3 for PHQ-9 and "
        "GAD-7); every scored item is required.",
        examples=[{"1": 0, "2": 1, "3": 0, "4": 2, "5": 0, "6": 1, "7": 0, "8": 0, "9": 0}],
    ),
]


class ResponseCreate(BaseSchema):
    """The patient's answers to a request."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "answers": {
                        "1": 0,
                        "2": 1,
                        "3": 0,
                        "4": 2,
                        "5": 0,
                        "6": 1,
                        "7": 0,
                        "8": 0,
                        "9": 0,
                    }
                }
            ]
        }
    )

    answers: Answers


class InSessionCreate(BaseSchema):
    """An instrument administered by a therapist in session, on the patient's behalf."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "instrument": "gad7",
                    "answers": {"1": 1, "2": 1, "3": 0, "4": 2, "5": 0, "6": 1, "7": 0},
                }
            ]
        }
    )

    instrument: Instrument
    answers: Answers


MEASURE: dict[str, Any] = {
    "id": 77,
    "patient": "p_zxcp0h",
    "instrument": "phq9",
    "request": 120,
    "total": 11,
    "band": "moderate",
    "answers": {"1": 2, "2": 1, "3": 2, "4": 2, "5": 1, "6": 1, "7": 1, "8": 1, "9": 0},
    "administered_by": None,
    "created_at": "2026-12-01T18:02:40Z",
}


class MeasureRead(BaseSchema):
    """A response: its answers, and the total and severity band the service computed."""

    model_config = ConfigDict(json_schema_extra={"examples": [MEASURE]})

    id: int
    patient: str
    instrument: str
    request: int | None = None
    total: int
    band: str
    answers: dict[str, int]
    administered_by: str | None = Field(
        default=None, description="The therapist who administered it in session, if one did."
    )
    created_at: datetime


class TrendPoint(BaseSchema):
    id: int
    at: datetime
    total: int
    band: str


TREND: dict[str, Any] = {
    "instrument": "phq9",
    "points": [
        {"id": 61, "at": "2026-10-01T18:00:00Z", "total": 16, "band": "moderately severe"},
        {"id": 77, "at": "2026-12-01T18:02:40Z", "total": 4, "band": "minimal"},
    ],
    "first": 16,
    "latest": 4,
    "change": -12,
    "response": True,
    "remission": True,
}


class TrendRead(BaseSchema):
    """Scores over time, oldest first: the change since the first; `response`, a drop of at
    least 50% from the first; `remission`, the latest below the instrument's threshold (5)."""

    model_config = ConfigDict(json_schema_extra={"examples": [TREND]})

    instrument: str
    points: list[TrendPoint]
    first: int | None = None
    latest: int | None = None
    change: int | None = None
    response: bool
    remission: bool


class TrendQuery(BaseSchema):
    instrument: Annotated[Instrument, BeforeValidator(blank_to_none)] = Field(
        description="The instrument's id, e.g. phq9."
    )


ALERT: dict[str, Any] = {
    "id": 9,
    "patient": "p_zxcp0h",
    "measure": 77,
    "rule": "phq9-item9",
    "message": "A response needs attention: item 9 was answered above 0.",
    "status": "open",
    "therapist": 7,
    "created_at": "2026-12-01T18:02:40Z",
    "escalate_at": "2026-12-01T19:02:40Z",
    "escalated_at": None,
    "acknowledged_by": None,
    "acknowledged_at": None,
    "note": None,
}


class AlertRead(BaseSchema):
    """A safety alert: open until acknowledged with a note."""

    model_config = ConfigDict(json_schema_extra={"examples": [ALERT]})
    list_path: ClassVar[str] = "/api/alerts/"

    id: int
    patient: str
    measure: int
    rule: str
    message: str
    status: Literal["open", "acknowledged"]
    therapist: int | None = None
    created_at: datetime
    escalate_at: datetime
    escalated_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    note: str | None = None

    @classmethod
    def of(cls, row: AlertRow, message: str) -> "AlertRead":
        return cls.model_validate(
            {
                **row,
                "patient": row["patient_id"],
                "measure": row["response_id"],
                "therapist": row["therapist_id"],
                "message": message,
            }
        )


class AlertQuery(BaseSchema):
    status: Annotated[Literal["open", "acknowledged"] | None, BeforeValidator(blank_to_none)] = (
        Field(default="open", description="open (the default) or acknowledged.")
    )
    patient: Annotated[str | None, BeforeValidator(blank_to_none)] = None


class AlertAcknowledge(BaseSchema):
    """What was done about the alert (PHI: encrypted at rest)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"note": "Called the patient; safety plan reviewed."}]}
    )

    note: Annotated[MultilineText, Field(min_length=1, max_length=NOTE_MAX_LENGTH)]


MeasureId = Annotated[int, Field(ge=1, le=BIGINT_MAX)]


class InstrumentOption(BaseSchema):
    value: int
    text: str


class InstrumentItem(BaseSchema):
    link_id: str
    number: int
    text: str
    required: bool
    scored: bool
    options: list[InstrumentOption]


class InstrumentBand(BaseSchema):
    label: str
    min: int
    max: int


INSTRUMENT: dict[str, Any] = {
    "id": "gad7",
    "name": "GAD-7",
    "title": "Generalized Anxiety Disorder 7-item scale",
    "version": "1.0",
    "lookback": "Over the last 2 weeks, how often have you been bothered by the following "
    "problems?",
    "items": [
        {
            "link_id": "1",
            "number": 1,
            "text": "Feeling nervous, anxious, or on edge",
            "required": True,
            "scored": True,
            "options": [
                {"value": 0, "text": "Not at all"},
                {"value": 1, "text": "Several days"},
                {"value": 2, "text": "More than half the days"},
                {"value": 3, "text": "Nearly every day"},
            ],
        }
    ],
    "bands": [{"label": "minimal", "min": 0, "max": 4}],
    "remission_below": 5,
}


class InstrumentRead(BaseSchema):
    """An instrument as a frontend shows it: its items with their answers, and its bands."""

    model_config = ConfigDict(json_schema_extra={"examples": [INSTRUMENT]})
    list_path: ClassVar[str] = "/api/instruments/"

    id: str
    name: str
    title: str
    version: str
    lookback: str
    items: list[InstrumentItem]
    bands: list[InstrumentBand]
    remission_below: int | None = None


class FhirBundle(BaseSchema):
    """FHIR R4: a Bundle (collection) of the response as a QuestionnaireResponse and its total
    as an Observation derived from it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "resourceType": "Bundle",
                    "type": "collection",
                    "entry": [
                        {
                            "resource": {
                                "resourceType": "QuestionnaireResponse",
                                "status": "completed",
                            }
                        },
                        {"resource": {"resourceType": "Observation", "status": "final"}},
                    ],
                }
            ]
        },
        populate_by_name=True,
    )

    resourceType: Literal["Bundle"] = "Bundle"  # noqa: N815 - FHIR's own name
    type: Literal["collection"] = "collection"
    entry: list[dict[str, Any]]

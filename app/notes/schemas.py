"""The clinical notes' request and response bodies, and the rules of their fields."""

import json
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, TypedDict
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, ConfigDict, Field, StrictBool, field_validator
from pydantic_core import PydanticCustomError

from app.appointments.schemas import PatientRef
from app.core.fields import Instant, MultilineText, Omittable, Text, check_multiline
from app.core.schemas import BaseSchema
from app.models.notes import PURPOSE_MAX_LENGTH, TEMPLATES


# The rows its statements return: TypedDicts, checked against each statement when it is
# compiled (app.db.query).
class NoteAppointmentRow(TypedDict):
    id: int
    patient_id: str
    therapist_id: int


class PatientIdRow(TypedDict):
    id: str


class IdRow(TypedDict):
    id: int


class NoteRow(TypedDict):
    id: int
    appointment_id: int
    patient_id: str
    author_id: int
    template: str
    fields: str  # the template's fields as one JSON object
    status: str
    signed_by: int | None
    signed_at: datetime | None
    cosigned_by: int | None
    cosigned_at: datetime | None
    withheld: bool
    withheld_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class AddendumRow(TypedDict):
    id: int
    note_id: int
    author_id: int
    text: str
    signed_at: datetime


class PsychotherapyNoteRow(TypedDict):
    id: int
    patient_id: str
    appointment_id: int | None
    author_id: int
    text: str
    created_at: datetime


class AuthorizationRow(TypedDict):
    """An authorization, with its recipient's username."""

    id: int
    note_id: int
    granted_by: int
    recipient_id: int
    purpose: str
    expires_at: datetime
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: int | None
    recipient: str


FIELD_MAX_LENGTH = 5000
ADDENDUM_MAX_LENGTH = 5000
PSYCHOTHERAPY_MAX_LENGTH = 20000
REASON_MAX_LENGTH = 500

Template = Literal["SOAP", "DAP", "BIRP"]
NoteStatus = Literal["draft", "signed"]
assert set(Template.__args__) == set(TEMPLATES)  # type: ignore[attr-defined]

WITHHELD_REASON_REQUIRED = "A reason is required when the note is withheld from the patient."
FIELDS_DESCRIPTION = (
    "Exactly the template's fields, each text of at most 5000 characters (line breaks and tabs "
    "kept, other control characters refused): SOAP subjective, "
    "objective, assessment, plan; DAP data, assessment, plan; BIRP behavior, intervention, "
    "response, plan."
)


def fields_rule(template: str) -> str:
    return f"A {template} note has exactly the fields {', '.join(TEMPLATES[template])}."


def check_fields(template: str, fields: Any) -> dict[str, str]:
    """`fields` as the template wants it (its keys exactly, each a text <= 5000), or a
    ValueError whose message names the rule."""
    if not isinstance(fields, dict) or set(fields) != set(TEMPLATES[template]):
        raise ValueError(fields_rule(template))
    checked: dict[str, str] = {}
    for key in TEMPLATES[template]:
        value = fields[key]
        if not isinstance(value, str):
            raise ValueError(f"The field {key} must be text.")
        if len(value) > FIELD_MAX_LENGTH:
            raise ValueError(f"The field {key} has at most {FIELD_MAX_LENGTH} characters.")
        checked[key] = check_multiline(value)
    return checked


def unwritten(template: str, fields: dict[str, str]) -> str | None:
    """Why a note with these fields cannot be signed (None: it can): a draft may leave a field
    empty, a signed note may not."""
    empty = [key for key in TEMPLATES[template] if not fields[key].strip()]
    if not empty:
        return None
    return f"A note is signed with every field written; empty: {', '.join(empty)}."


def _text_values(fields: dict[str, Any]) -> dict[str, Any]:
    """Every text of the fields held to the multi-line text rule, whatever the template."""
    for value in fields.values():
        if isinstance(value, str):
            check_multiline(value)
    return fields


def _as_rule(value: Any, template: str) -> dict[str, str]:
    try:
        return check_fields(template, value)
    except ValueError as failed:
        raise PydanticCustomError("fields", str(failed)) from None


Reason = Annotated[Text, Field(min_length=1, max_length=REASON_MAX_LENGTH)]
Fields = Annotated[dict[str, Any], AfterValidator(_text_values)]

NOTE_CREATE: dict[str, Any] = {
    "template": "SOAP",
    "fields": {
        "subjective": "Reports better sleep.",
        "objective": "Calm, engaged.",
        "assessment": "Improving.",
        "plan": "Continue weekly CBT.",
    },
}
NOTE: dict[str, Any] = {
    "id": 12,
    "appointment": 123,
    "patient": "p_zxcp0h",
    "author": 7,
    **NOTE_CREATE,
    "status": "signed",
    "signed_by": 7,
    "signed_at": "2026-03-30T10:05:00+02:00",
    "cosigned_by": 9,
    "cosigned_at": "2026-03-31T09:00:00+02:00",
    "withheld": True,
    "withheld_reason": "Disclosure could endanger a third party.",
    "addenda": [
        {
            "id": 3,
            "author": 7,
            "text": "Corrected: sleep 6 hours, not 8.",
            "signed_at": "2026-03-31T08:00:00+02:00",
        }
    ],
    "created_at": "2026-03-30T09:55:00+02:00",
    "updated_at": "2026-03-30T10:05:00+02:00",
}


def withholding_problem(withheld: bool, reason: str | None) -> str | None:
    """Why this withholding cannot be (None: it can): a withheld note needs a reason."""
    return WITHHELD_REASON_REQUIRED if withheld and not reason else None


class NoteCreate(BaseSchema):
    """A new progress note (a draft) of the appointment, by its therapist."""

    model_config = ConfigDict(json_schema_extra={"examples": [NOTE_CREATE]})

    template: Template = Field(description="SOAP, DAP or BIRP.")
    fields: Fields = Field(description=FIELDS_DESCRIPTION)
    withheld: StrictBool = Field(
        default=False, description="Withhold the note from the patient (a reason is required)."
    )
    withheld_reason: Reason | None = None

    @field_validator("fields", mode="after")
    @classmethod
    def _template_fields(cls, value: Any, info: Any) -> dict[str, str]:
        template = info.data.get("template")
        if template is None:  # the template's own error is reported
            return dict(value)
        return _as_rule(value, template)


class NoteUpdate(BaseSchema):
    """PATCH of a draft: any of these. `fields` replaces the fields whole, and must have
    exactly the (new or current) template's keys."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"fields": NOTE_CREATE["fields"]}]})

    template: Omittable[Template] = None
    fields: Omittable[Fields] = Field(default=None, description=FIELDS_DESCRIPTION)
    withheld: Omittable[StrictBool] = None
    withheld_reason: Reason | None = None


class Withholding(BaseSchema):
    """Withhold a note from the patient (with a reason), or show it again."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"withheld": True, "withheld_reason": "Risk of harm."}]}
    )

    withheld: StrictBool
    withheld_reason: Reason | None = None


class AddendumCreate(BaseSchema):
    """An addendum to a signed note: signed and timestamped by its author when written."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"text": "Corrected: sleep 6 hours, not 8."}]}
    )

    text: Annotated[MultilineText, Field(min_length=1, max_length=ADDENDUM_MAX_LENGTH)]


class AddendumRead(BaseSchema):
    id: int
    author: int = Field(description="The staff id of its author, who signed it.")
    text: str
    signed_at: datetime

    @classmethod
    def of(cls, row: AddendumRow, zone: ZoneInfo) -> "AddendumRead":
        return cls(
            id=row["id"],
            author=row["author_id"],
            text=row["text"],
            signed_at=row["signed_at"].astimezone(zone),
        )


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    return None if value is None else value.astimezone(zone)


class NoteRead(BaseSchema):
    """A progress note with its addenda, oldest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [NOTE]})
    list_path: ClassVar[str] = "/api/appointments/123/notes/"

    id: int
    appointment: int
    patient: str
    author: int = Field(description="The staff id of the appointment's therapist, its author.")
    template: Template
    fields: dict[str, str]
    status: NoteStatus
    signed_by: int | None
    signed_at: datetime | None
    cosigned_by: int | None
    cosigned_at: datetime | None
    withheld: bool
    withheld_reason: str | None
    addenda: list[AddendumRead]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: NoteRow, addenda: list[AddendumRow], zone: ZoneInfo) -> "NoteRead":
        return cls(
            id=row["id"],
            appointment=row["appointment_id"],
            patient=row["patient_id"],
            author=row["author_id"],
            template=row["template"],
            fields=json.loads(row["fields"]),
            status=row["status"],
            signed_by=row["signed_by"],
            signed_at=_local(row["signed_at"], zone),
            cosigned_by=row["cosigned_by"],
            cosigned_at=_local(row["cosigned_at"], zone),
            withheld=row["withheld"],
            withheld_reason=row["withheld_reason"],
            addenda=[AddendumRead.of(addendum, zone) for addendum in addenda],
            created_at=row["created_at"].astimezone(zone),
            updated_at=row["updated_at"].astimezone(zone),
        )

    def for_patient(self) -> "NoteRead":
        """What a patient sees of their own signed note: not why anything is withheld."""
        return self.model_copy(update={"withheld_reason": None})


PSYCHOTHERAPY_CREATE: dict[str, Any] = {
    "patient": "p_zxcp0h",
    "appointment": 123,
    "text": "Process notes: transference themes around the father.",
}
PSYCHOTHERAPY_NOTE: dict[str, Any] = {
    "id": 5,
    **PSYCHOTHERAPY_CREATE,
    "author": 7,
    "created_at": "2026-03-30T10:10:00+02:00",
}


class PsychotherapyNoteCreate(BaseSchema):
    """A psychotherapy note of the caller's (a therapist's), about a patient."""

    model_config = ConfigDict(json_schema_extra={"examples": [PSYCHOTHERAPY_CREATE]})

    patient: PatientRef
    appointment: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = Field(
        default=None, description="An appointment of this patient with the author, optional."
    )
    text: Annotated[MultilineText, Field(min_length=1, max_length=PSYCHOTHERAPY_MAX_LENGTH)]


class PsychotherapyNoteRead(BaseSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [PSYCHOTHERAPY_NOTE]})
    list_path: ClassVar[str] = "/api/psychotherapy-notes/"

    id: int
    patient: str
    appointment: int | None
    author: int
    text: str
    created_at: datetime

    @classmethod
    def of(cls, row: PsychotherapyNoteRow, zone: ZoneInfo) -> "PsychotherapyNoteRead":
        return cls(
            id=row["id"],
            patient=row["patient_id"],
            appointment=row["appointment_id"],
            author=row["author_id"],
            text=row["text"],
            created_at=row["created_at"].astimezone(zone),
        )


AUTHORIZATION_CREATE: dict[str, Any] = {
    "recipient": "dr-lee",
    "purpose": "Consultation requested by the patient (signed authorization on file).",
    "expires_at": "2026-06-30T23:59:59+02:00",
}


class AuthorizationCreate(BaseSchema):
    """An authorization to disclose the note to one staff member (by username), for a purpose,
    until it expires."""

    model_config = ConfigDict(json_schema_extra={"examples": [AUTHORIZATION_CREATE]})

    recipient: Annotated[Text, Field(min_length=1, max_length=150)] = Field(
        description="The recipient's staff username."
    )
    purpose: Annotated[Text, Field(min_length=1, max_length=PURPOSE_MAX_LENGTH)]
    expires_at: Instant


AUTHORIZATION: dict[str, Any] = {
    "id": 9,
    "note": 5,
    "granted_by": 7,
    **AUTHORIZATION_CREATE,
    "created_at": "2026-03-30T10:15:00+02:00",
}
REVOKED_AUTHORIZATION = {
    **AUTHORIZATION,
    "revoked_at": "2026-04-02T09:00:00+02:00",
    "revoked_by": 7,
}


class AuthorizationRead(BaseSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [REVOKED_AUTHORIZATION]})
    list_path: ClassVar[str] = "/api/psychotherapy-notes/5/authorizations/"

    id: int
    note: int
    granted_by: int = Field(description="The author's staff id.")
    recipient: str = Field(description="The recipient's staff username.")
    purpose: str
    expires_at: datetime
    created_at: datetime
    revoked_at: datetime | None = Field(
        default=None, description="When the author revoked it (null while it stands)."
    )
    revoked_by: int | None = Field(
        default=None, description="Who revoked it (the author's staff id), if anyone did."
    )

    @classmethod
    def of(cls, row: AuthorizationRow, zone: ZoneInfo) -> "AuthorizationRead":
        return cls(
            id=row["id"],
            note=row["note_id"],
            granted_by=row["granted_by"],
            recipient=row["recipient"],
            purpose=row["purpose"],
            expires_at=row["expires_at"].astimezone(zone),
            created_at=row["created_at"].astimezone(zone),
            revoked_at=row["revoked_at"] and row["revoked_at"].astimezone(zone),
            revoked_by=row["revoked_by"],
        )


class Disclosure(BaseSchema):
    """A psychotherapy note disclosed under an authorization."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"note": PSYCHOTHERAPY_NOTE, "authorization": AUTHORIZATION}]
        }
    )

    note: PsychotherapyNoteRead
    authorization: AuthorizationRead


class DisclosureQuery(BaseSchema):
    authorization: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = Field(
        default=None, description="The id of an authorization of this note naming the caller."
    )


class PsychotherapyListQuery(BaseSchema):
    patient: PatientRef | None = Field(default=None, description="Only this patient's notes.")

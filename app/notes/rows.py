"""The rows the clinical notes' statements return (app.db.query: checked against each statement
when it is compiled)."""

from datetime import datetime
from typing import TypedDict


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

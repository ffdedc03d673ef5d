"""The rows the documents' statements return (app.db.query: checked against each statement when
it is compiled)."""

from datetime import datetime
from typing import TypedDict


class DocumentRow(TypedDict):
    """A document's row: its metadata, and where and under which key its bytes are sealed."""

    id: int
    patient_id: str
    appointment_id: int | None
    title: str
    category: str
    content_type: str
    size: int
    sha256: str
    storage_name: str
    key_id: str
    withheld: bool
    withheld_reason: str | None
    uploaded_by: str
    version: int
    created_at: datetime
    updated_at: datetime


class StorageNameRow(TypedDict):
    storage_name: str


class AppointmentPatientRow(TypedDict):
    patient_id: str

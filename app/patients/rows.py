"""The rows the patients' statements return (app.db.query: checked against each statement when it
is compiled)."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypedDict


class RecordRow(TypedDict):
    """The record's own columns, as a patient holds them and each version keeps them."""

    first_name: str
    last_name: str
    phone_no: str
    allergies_and_medication: str
    date_of_birth: date
    sex: str
    ssn: str | None
    email: str | None
    address: str | None
    added_note: str | None
    about_note: str | None
    profile_picture: str | None
    tags: list[str]
    wallet_balance: Decimal
    sessions: list[dict[str, Any]]


class PatientRow(RecordRow):
    """A patient as every read and write returns them: all but the password hash and the time
    of a deletion."""

    id: str
    version: int
    created_at: datetime
    updated_at: datetime


class PictureReplacedRow(PatientRow):
    """A patient whose picture was set or cleared, and the stored name it replaced."""

    previous_picture: str | None


class PatientIdRow(TypedDict):
    id: str


class HolderRow(TypedDict):
    """An account that holds a phone number or e-mail address: a patient's id, or None for a
    staff member."""

    field: str
    id: str | None
    deleted: bool


class PatientPhoneRow(TypedDict):
    id: str
    phone_no: str


class SharedEmailRow(TypedDict):
    """The ids of the patients that share one e-mail address."""

    ids: list[str]


class EmailOfStaffRow(TypedDict):
    patient_id: str
    staff_id: int


class CredentialsRow(TypedDict):
    """A patient's password hash, and what a new password must not resemble."""

    first_name: str
    last_name: str
    phone_no: str
    email: str | None
    password_hash: str


class PurgedRow(TypedDict):
    """A patient removed for good, and the stored names of their files."""

    id: str
    profile_picture: str | None
    documents: list[str]


class DeletedPatientRow(TypedDict):
    id: str
    first_name: str
    last_name: str
    deleted_at: datetime


class DeletedPatientDueRow(DeletedPatientRow):
    """A deleted patient with the time they are purged after (computed, not a column)."""

    purge_after: datetime


class PatientPhiRow(TypedDict):
    """A patient's PHI fields, decrypted."""

    id: str
    ssn: str | None
    allergies_and_medication: str
    sessions: list[dict[str, Any]]


class VersionChangeRow(TypedDict):
    """What a version says of its change: who, when, why, which fields."""

    version: int
    at: datetime
    actor: str
    actor_kind: str
    action: str
    reason: str | None
    changed: list[str]
    restored_from: int | None


class PatientVersionRow(VersionChangeRow, RecordRow):
    """A version with the record it left."""

    patient_id: str


class VersionPhiRow(TypedDict):
    """A version's PHI fields, decrypted."""

    patient_id: str
    version: int
    ssn: str | None
    allergies_and_medication: str
    sessions: list[dict[str, Any]]


class VersionNumberRow(TypedDict):
    version: int

"""The rows the accounts' statements return (app.db.query: checked against each statement when it
is compiled)."""

import uuid
from datetime import datetime
from typing import TypedDict


class StaffRow(TypedDict):
    """A staff member as sessions, resets and the admin know them (never their password hash)."""

    id: int
    username: str
    email: str | None
    role: str
    is_active: bool
    created_at: datetime


class StaffAccountRow(StaffRow):
    """A staff member with their password hash, to check or replace it."""

    password_hash: str


class StaffCredentialsRow(TypedDict):
    """A staff member a login name points at."""

    id: int
    username: str
    role: str
    password_hash: str
    is_active: bool


class StaffPrincipalRow(TypedDict):
    """The staff member of an admin session."""

    id: int
    username: str
    role: str


class StaffIdRow(TypedDict):
    id: int


class PatientCredentialsRow(TypedDict):
    """A patient a login name points at."""

    id: str
    password_hash: str


class PatientIdRow(TypedDict):
    id: str


class PatientRecipientRow(TypedDict):
    """Where a patient's reset mail goes, and what their new password must not be like."""

    first_name: str
    last_name: str
    phone_no: str
    email: str | None


class AppointmentPatientRow(TypedDict):
    patient_id: str


class OpenedSessionRow(TypedDict):
    id: uuid.UUID
    expires_at: datetime


class SessionIdRow(TypedDict):
    id: uuid.UUID


class SessionAccountRow(TypedDict):
    """A session and its account: a staff member's or a patient's, exactly one."""

    session_id: uuid.UUID
    kind: str
    staff_id: int | None
    patient_id: str | None


class ExpiryRow(TypedDict):
    """When a new refresh token or reset token expires."""

    expires_at: datetime


class ResetDigestRow(TypedDict):
    digest: str


class ResetAccountRow(TypedDict):
    """The account of a reset token: a staff member's or a patient's, exactly one."""

    staff_id: int | None
    patient_id: str | None

"""Every model, imported so that Base.metadata knows every table (Alembic reads it)."""

from app.models.audit import AuditEvent
from app.models.document import PatientDocument
from app.models.history import PatientVersion
from app.models.idempotency import IdempotentResponse
from app.models.notes import (
    ProgressNote,
    ProgressNoteAddendum,
    PsychotherapyNote,
    PsychotherapyNoteAuthorization,
)
from app.models.password_reset import PasswordResetToken
from app.models.patient import Patient
from app.models.payments import BillableService, SlidingScale
from app.models.scheduling import (
    Appointment,
    AppointmentReminder,
    AppointmentSeries,
    CalendarFeed,
    TherapistHours,
    TherapistTimeOff,
)
from app.models.session import AuthSession, RefreshToken
from app.models.staff import Staff
from app.models.wallet import WalletTransaction

__all__ = [
    "Appointment",
    "AppointmentReminder",
    "AppointmentSeries",
    "AuditEvent",
    "AuthSession",
    "BillableService",
    "CalendarFeed",
    "IdempotentResponse",
    "PasswordResetToken",
    "Patient",
    "PatientDocument",
    "PatientVersion",
    "ProgressNote",
    "ProgressNoteAddendum",
    "PsychotherapyNote",
    "PsychotherapyNoteAuthorization",
    "RefreshToken",
    "SlidingScale",
    "Staff",
    "TherapistHours",
    "TherapistTimeOff",
    "WalletTransaction",
]

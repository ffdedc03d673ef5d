"""Every model, imported so that Base.metadata knows every table (Alembic reads it)."""

from app.models.audit import AuditEvent
from app.models.document import PatientDocument
from app.models.history import PatientVersion
from app.models.idempotency import IdempotentResponse
from app.models.invoices import Invoice, InvoiceCounter, InvoiceLine
from app.models.ledger import LedgerEntry, LedgerTransaction
from app.models.measures import (
    AlertNotice,
    MeasureAssignment,
    MeasureRequest,
    MeasureResponse,
    SafetyAlert,
)
from app.models.notes import (
    ProgressNote,
    ProgressNoteAddendum,
    PsychotherapyNote,
    PsychotherapyNoteAuthorization,
)
from app.models.password_reset import PasswordResetToken
from app.models.patient import Patient
from app.models.payments import (
    BillableService,
    CardSetup,
    PatientDiagnoses,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    ProcessorCustomer,
    ProcessorEvent,
    Refund,
    SlidingScale,
)
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

__all__ = [
    "AlertNotice",
    "Appointment",
    "AppointmentReminder",
    "AppointmentSeries",
    "AuditEvent",
    "AuthSession",
    "BillableService",
    "CalendarFeed",
    "CardSetup",
    "IdempotentResponse",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "LedgerEntry",
    "LedgerTransaction",
    "MeasureAssignment",
    "MeasureRequest",
    "MeasureResponse",
    "PasswordResetToken",
    "Patient",
    "PatientDiagnoses",
    "PatientDocument",
    "PatientVersion",
    "Payment",
    "PaymentAllocation",
    "PaymentMethod",
    "ProcessorCustomer",
    "ProcessorEvent",
    "ProgressNote",
    "ProgressNoteAddendum",
    "PsychotherapyNote",
    "PsychotherapyNoteAuthorization",
    "RefreshToken",
    "Refund",
    "SafetyAlert",
    "SlidingScale",
    "Staff",
    "TherapistHours",
    "TherapistTimeOff",
]

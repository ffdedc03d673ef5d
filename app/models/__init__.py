"""Every model, imported so that Base.metadata knows every table (Alembic reads it)."""

from app.models.audit import AuditEvent
from app.models.idempotency import IdempotentResponse
from app.models.patient import Patient
from app.models.session import AuthSession, RefreshToken
from app.models.staff import Staff
from app.models.wallet import WalletTransaction

__all__ = [
    "AuditEvent",
    "AuthSession",
    "IdempotentResponse",
    "Patient",
    "RefreshToken",
    "Staff",
    "WalletTransaction",
]

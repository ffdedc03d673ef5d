"""Every model, imported so that Base.metadata knows every table (Alembic reads it)."""

from app.models.audit import AuditEvent
from app.models.patient import Patient
from app.models.staff import Staff

__all__ = ["AuditEvent", "Patient", "Staff"]

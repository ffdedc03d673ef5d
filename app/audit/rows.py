"""The rows the audit trail's statements return (app.db.query: checked against each statement
when it is compiled)."""

from datetime import datetime
from typing import TypedDict


class AuditEventRow(TypedDict):
    """One event of the audit trail."""

    id: int
    at: datetime
    actor: str
    actor_kind: str
    action: str
    patient_id: str | None
    client_address: str | None
    outcome: str
    status_code: int


class AuditEventKeyRow(TypedDict):
    """An event's key, which an INSERT of one event returns: SQLAlchemy's PostgreSQL dialect
    adds the RETURNING of the primary key by itself."""

    id: int
    at: datetime

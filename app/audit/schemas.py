from datetime import datetime
from typing import Any, ClassVar, TypedDict

from pydantic import ConfigDict, Field

from app.core.fields import Text
from app.core.schemas import BaseSchema


# The rows its statements return: TypedDicts, checked against each statement when it is
# compiled (app.db.query).
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


AUDIT_EVENT: dict[str, Any] = {
    "id": 7,
    "at": "2024-05-01T15:31:07.412000Z",
    "actor": "rivera",
    "actor_kind": "staff",
    "action": "get_patient",
    "patient_id": "p_zxcp0h",
    "client_address": "203.0.113.7",
    "outcome": "success",
    "status_code": 200,
}


class AuditQuery(BaseSchema):
    patient: Text | None = Field(default=None, description="Patient id, exact.")
    actor: Text | None = Field(default=None, description="Staff username or patient id, exact.")
    action: Text | None = Field(
        default=None, description="Endpoint name, e.g. get_patient or login."
    )


class AuditEventRead(BaseSchema):
    """One request or login attempt, as the audit trail keeps it."""

    model_config = ConfigDict(json_schema_extra={"examples": [AUDIT_EVENT]})
    list_path: ClassVar[str] = "/api/audit/"

    id: int
    at: datetime
    actor: str
    actor_kind: str
    action: str
    patient_id: str | None
    client_address: str | None
    outcome: str
    status_code: int

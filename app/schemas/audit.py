from datetime import datetime

from pydantic import ConfigDict, Field

from app.schemas import examples
from app.schemas.base import BaseSchema
from app.schemas.fields import PageCount, Text


class AuditQuery(BaseSchema):
    patient: Text | None = Field(default=None, description="Patient id, exact.")
    actor: Text | None = Field(default=None, description="Staff username or patient id, exact.")
    action: Text | None = Field(
        default=None, description="Endpoint name, e.g. get_patient or login."
    )


class AuditEventRead(BaseSchema):
    """One request or login attempt, as the audit trail keeps it."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.AUDIT_EVENT]})

    id: int
    at: datetime
    actor: str
    actor_kind: str
    action: str
    patient_id: str | None
    client_address: str | None
    outcome: str
    status_code: int


class AuditPage(BaseSchema):
    """A page of the audit trail, newest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.AUDIT_PAGE]})

    count: PageCount
    next: str | None
    previous: str | None
    results: list[AuditEventRead]

from datetime import datetime

from pydantic import Field

from app.schemas.base import BaseSchema
from app.schemas.fields import Text


class AuditQuery(BaseSchema):
    patient: Text | None = Field(default=None, description="Patient id, exact.")
    actor: Text | None = Field(default=None, description="Staff username or patient id, exact.")
    action: Text | None = Field(
        default=None, description="Endpoint name, e.g. get_patient or login."
    )


class AuditEventRead(BaseSchema):
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
    count: int
    next: str | None
    previous: str | None
    results: list[AuditEventRead]

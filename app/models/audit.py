from datetime import datetime

from sqlalchemy import BigInteger, Identity, Index, SmallInteger, String, func
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class AuditEvent(Base):
    """One read, change or login attempt. Append-only: a trigger refuses UPDATE and DELETE."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(160))
    actor_kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str | None] = mapped_column(String(9))
    client_address: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int] = mapped_column(SmallInteger)

    __table_args__ = (
        Index("ix_audit_events_patient_id_at", "patient_id", "at"),
        Index("ix_audit_events_actor_at", "actor", "at"),
        Index("ix_audit_events_action_at", "action", "at"),
        Index("ix_audit_events_at", "at"),
    )

from datetime import datetime

from sqlalchemy import BigInteger, Identity, Index, SmallInteger, String, func
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class AuditEvent(Base):
    """One read, change or login attempt. Append-only: a trigger refuses UPDATE and DELETE.

    Partitioned by month of `at` (app.audit.partitions makes the partitions); a partitioned
    table's primary key must hold the partition key, hence (id, at). The identity alone still
    names an event, so the mapper keys on `id`.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now(), primary_key=True
    )
    actor: Mapped[str] = mapped_column(String(160))
    actor_kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str | None] = mapped_column(String(9))
    client_address: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int] = mapped_column(SmallInteger)

    # Each list filter's index ends with (at, id), the list's order, so that a page is the
    # first rows of each partition's index, merged, with no sort. Patient and action together
    # have their own: a rare action of a busy patient took 36 ms through the other two at 100
    # million events (a bitmap of every event of the patient), 0.6 ms through it.
    __table_args__ = (
        Index("ix_audit_events_patient_id_at_id", "patient_id", "at", "id"),
        Index("ix_audit_events_patient_id_action_at_id", "patient_id", "action", "at", "id"),
        Index("ix_audit_events_actor_at_id", "actor", "at", "id"),
        Index("ix_audit_events_action_at_id", "action", "at", "id"),
        Index("ix_audit_events_at_id", "at", "id"),
        {"postgresql_partition_by": "RANGE (at)"},
    )
    __mapper_args__ = {"primary_key": ["id"]}  # noqa: RUF012

"""Measurement-based care: instruments assigned to patients, the requests they make (each due
before an appointment, or once), the responses (answers encrypted), the safety alerts a
response raises in its own transaction, and the outbox of the alerts' mails, which the worker
sends until someone is told."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.types import EncryptedText

INSTRUMENT_MAX_LENGTH = 32
NOTE_MAX_LENGTH = 1000


class MeasureAssignment(Base):
    """An instrument assigned to a patient: once, before every appointment, or before every
    Nth, `lead_minutes` ahead; the treating therapist is told of its alerts."""

    __tablename__ = "measure_assignments"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    patient_id: Mapped[str] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE")
    )
    instrument: Mapped[str] = mapped_column(String(INSTRUMENT_MAX_LENGTH))
    schedule: Mapped[str] = mapped_column(String(16))
    every: Mapped[int] = mapped_column(SmallInteger, server_default=text("1"))
    lead_minutes: Mapped[int] = mapped_column(Integer)
    expires_after_minutes: Mapped[int] = mapped_column(Integer)
    therapist_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("staff.id", ondelete="SET NULL")
    )
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    ended_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        CheckConstraint("schedule IN ('once', 'before_each', 'every_nth')", name="schedule_choice"),
        CheckConstraint("every BETWEEN 1 AND 52", name="every_range"),
        CheckConstraint("lead_minutes BETWEEN 0 AND 20160", name="lead_minutes_range"),
        CheckConstraint(
            "expires_after_minutes BETWEEN 15 AND 43200", name="expires_after_minutes_range"
        ),
        Index("ix_measure_assignments_patient_id", "patient_id"),
    )


class MeasureRequest(Base):
    """One request to answer an instrument: due at a time, expiring later; mailed by the
    worker (a link, no PHI), at least once, never for a cancelled appointment."""

    __tablename__ = "measure_requests"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    assignment_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("measure_assignments.id", ondelete="CASCADE")
    )
    patient_id: Mapped[str] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE")
    )
    instrument: Mapped[str] = mapped_column(String(INSTRUMENT_MAX_LENGTH))
    appointment_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("appointments.id", ondelete="CASCADE")
    )
    due_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'scheduled'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    leased_until: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint(
            "status IN ('scheduled', 'sent', 'answered', 'expired', 'cancelled', 'failed')",
            name="status_choice",
        ),
        CheckConstraint("expires_at > due_at", name="expires_after_due"),
        Index(
            "uq_measure_requests_assignment_id_appointment_id",
            "assignment_id",
            "appointment_id",
            unique=True,
            postgresql_where=text("appointment_id IS NOT NULL"),
        ),
        Index(
            "uq_measure_requests_once",
            "assignment_id",
            unique=True,
            postgresql_where=text("appointment_id IS NULL AND assignment_id IS NOT NULL"),
        ),
        Index("ix_measure_requests_status_due_at", "status", "due_at"),
        Index("ix_measure_requests_patient_id", "patient_id", "id"),
    )


class MeasureResponse(Base):
    """A response: the answers (PHI, encrypted), and the score and band the service computed.
    `administered_by` names the therapist who administered it in session."""

    __tablename__ = "measure_responses"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    request_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("measure_requests.id", ondelete="SET NULL"), unique=True
    )
    patient_id: Mapped[str] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE")
    )
    instrument: Mapped[str] = mapped_column(String(INSTRUMENT_MAX_LENGTH))
    answers: Mapped[str] = mapped_column(EncryptedText("measure_responses.answers"))
    total: Mapped[int] = mapped_column(SmallInteger)
    band: Mapped[str] = mapped_column(String(32))
    administered_by_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("staff.id", ondelete="SET NULL")
    )
    administered_by: Mapped[str | None] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        Index("ix_measure_responses_patient_id_instrument", "patient_id", "instrument", "id"),
    )


class SafetyAlert(Base):
    """A response that met a safety rule, made in the response's transaction; open until a
    therapist or admin acknowledges it with a note (PHI, encrypted)."""

    __tablename__ = "safety_alerts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    response_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("measure_responses.id", ondelete="CASCADE")
    )
    patient_id: Mapped[str] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE")
    )
    rule: Mapped[str] = mapped_column(String(64))
    therapist_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("staff.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), server_default=text("'open'"))
    escalate_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(160))
    acknowledged_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    note: Mapped[str | None] = mapped_column(EncryptedText("safety_alerts.note"))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint("status IN ('open', 'acknowledged')", name="status_choice"),
        CheckConstraint(
            "(status = 'acknowledged') = (acknowledged_at IS NOT NULL)", name="acknowledged_when"
        ),
        Index("uq_safety_alerts_response_id_rule", "response_id", "rule", unique=True),
        Index("ix_safety_alerts_status_escalate_at", "status", "escalate_at"),
    )


class AlertNotice(Base):
    """The outbox of the alerts' mails: one row per alert, kind and recipient, written in the
    transaction that makes it; the worker claims it under a lease and sends it until it is sent,
    so a worker killed mid-batch or a mail server down loses none."""

    __tablename__ = "alert_notices"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    alert_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("safety_alerts.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("staff.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    leased_until: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint("kind IN ('notify', 'escalate')", name="kind_choice"),
        CheckConstraint("status IN ('pending', 'sent', 'undeliverable')", name="status_choice"),
        Index("uq_alert_notices_alert_kind_staff", "alert_id", "kind", "staff_id", unique=True),
        Index("ix_alert_notices_status_next_attempt_at", "status", "next_attempt_at"),
    )

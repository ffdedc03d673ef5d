"""Appointment scheduling: therapists' working hours and time off, appointments (which
PostgreSQL itself keeps from overlapping), recurring series, the reminders' outbox, and the
therapists' calendar feeds."""

from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Select,
    SmallInteger,
    String,
    Time,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin
from app.db.types import EncryptedText
from app.models.patient import VERSION_SEQUENCE

KINDS = ("in_person", "video")
# FHIR R4 Appointment.status, less `pending` and `waitlist`, which a practice booking its own
# calendar does not use.
STATUSES = (
    "proposed",
    "booked",
    "arrived",
    "checked-in",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
)
# The statuses that hold the time: no two of these overlap for a therapist or for a patient. A
# cancelled, missed or mistaken appointment frees it.
ACTIVE_STATUSES = ("proposed", "booked", "arrived", "checked-in", "fulfilled")
NOTE_MAX_LENGTH = 500
REASON_MAX_LENGTH = 255

# The scheduling locks: transaction-level advisory locks (the two-key form: a space, then the
# therapist's id or the hash of the patient's id). Every write of a therapist's schedule takes its
# therapist's lock, and every write of appointments its patient's too, in that order and before
# any statement that writes or locks a row: two inserts racing for the same time would otherwise
# each wait on the other's entry in an exclusion constraint's index, a deadlock PostgreSQL
# resolves only after a second.
THERAPIST_LOCK_SPACE = 0x7468  # "th"
PATIENT_LOCK_SPACE = 0x7061  # "pa"


def patient_lock(patient: Any) -> ColumnElement[Any]:
    """Take the patient's scheduling lock (void)."""
    space = literal_column(str(PATIENT_LOCK_SPACE), Integer)
    return func.pg_advisory_xact_lock(space, func.hashtext(patient))


def scheduling_locks(therapist: Any, patient: Any = None) -> Select[Any]:
    """The statement that takes the scheduling locks of this therapist (and patient), in their
    order: PostgreSQL evaluates a select list from left to right."""
    space = literal_column(str(THERAPIST_LOCK_SPACE), Integer)
    locks = [func.pg_advisory_xact_lock(space, therapist).label("therapist")]
    if patient is not None:
        locks.append(patient_lock(patient).label("patient"))
    return select(*locks)


_ACTIVE = "status IN ({})".format(", ".join(f"'{status}'" for status in ACTIVE_STATUSES))


def _choice(column: str, values: tuple[str, ...]) -> str:
    return "{} IN ({})".format(column, ", ".join(f"'{value}'" for value in values))


class TherapistHours(Base):
    """One stretch of a therapist's weekly working hours, in the clinic's time zone: a weekday
    (ISO: 1 is Monday) may have several (09:00 to 12:00 and 13:00 to 17:00)."""

    __tablename__ = "therapist_hours"

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(SmallInteger)
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)

    __table_args__ = (
        CheckConstraint("weekday BETWEEN 1 AND 7", name="weekday_range"),
        CheckConstraint("starts < ends", name="starts_before_ends"),
        Index("ix_therapist_hours_therapist_id_weekday", "therapist_id", "weekday"),
    )


class TherapistTimeOff(Base):
    """A stretch of time a therapist does not work (leave, a conference), whatever their
    hours say."""

    __tablename__ = "therapist_time_off"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    reason: Mapped[str | None] = mapped_column(String(REASON_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="starts_before_ends"),
        Index("ix_therapist_time_off_therapist_id_ends_at", "therapist_id", "ends_at"),
    )


class AppointmentSeries(Base):
    """A recurring series: its occurrences are appointments of their own, made together."""

    __tablename__ = "appointment_series"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    rrule: Mapped[str] = mapped_column(String(500))
    patient_id: Mapped[str] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE")
    )
    therapist_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    # What each occurrence bills, given to each as it is booked.
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("billable_services.id", ondelete="RESTRICT")
    )
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )


class Appointment(TimestampMixin, Base):
    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    patient_id: Mapped[str] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE")
    )
    # Staff are deactivated, not deleted, while they have appointments.
    therapist_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    starts_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    cancellation_reason: Mapped[str | None] = mapped_column(String(REASON_MAX_LENGTH))
    note: Mapped[str | None] = mapped_column(EncryptedText("appointments.note"))
    series_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointment_series.id", ondelete="SET NULL")
    )
    # What it bills (null for the appointments booked before services were named). A service
    # is kept when deleted, never removed, so the appointments that name it keep naming it.
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("billable_services.id", ondelete="RESTRICT")
    )
    # Booked outside the therapist's hours or in their time off, by an admin who said so.
    outside_availability: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_by: Mapped[str] = mapped_column(String(160))
    version: Mapped[int] = mapped_column(BigInteger, server_default=VERSION_SEQUENCE.next_value())

    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="starts_before_ends"),
        CheckConstraint(_choice("kind", KINDS), name="kind_choice"),
        CheckConstraint(_choice("status", STATUSES), name="status_choice"),
        # PostgreSQL, not the service, keeps active appointments from overlapping: two
        # concurrent bookings cannot both commit (btree_gist gives `=` on ids a GiST class).
        ExcludeConstraint(
            ("therapist_id", "="),
            (func.tstzrange(text("starts_at"), text("ends_at"), "[)"), "&&"),
            name="no_overlap_for_therapist",
            using="gist",
            where=text(_ACTIVE),
        ),
        ExcludeConstraint(
            ("patient_id", "="),
            (func.tstzrange(text("starts_at"), text("ends_at"), "[)"), "&&"),
            name="no_overlap_for_patient",
            using="gist",
            where=text(_ACTIVE),
        ),
        Index("ix_appointments_starts_at_id", "starts_at", "id"),
        Index("ix_appointments_therapist_id_starts_at", "therapist_id", "starts_at"),
        Index("ix_appointments_patient_id_starts_at", "patient_id", "starts_at"),
        Index(
            "ix_appointments_series_id", "series_id", postgresql_where=text("series_id IS NOT NULL")
        ),
    )


class AppointmentReminder(Base):
    """The reminders' transactional outbox: written with the booking (or its move), sent by
    `python -m app worker`, which checks at send time that the appointment is still booked for
    the same start. The dedupe key names the appointment and its start, so a reminder is
    planned once per start however often it is written."""

    __tablename__ = "appointment_reminders"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    dedupe_key: Mapped[str] = mapped_column(String(100), unique=True)
    due_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    # pending → sent, or skipped (cancelled or moved since), or failed (out of attempts).
    state: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # When a pending reminder may next be taken: its due time, a retry's backoff, or the end
    # of the lease of a worker sending it now (a worker that dies leaves it to another).
    next_attempt_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(REASON_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint("state IN ('pending', 'sent', 'skipped', 'failed')", name="state_choice"),
        Index(
            "ix_appointment_reminders_next_attempt_at",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_appointment_reminders_appointment_id", "appointment_id"),
    )


class CalendarFeed(Base):
    """A therapist's calendar feed: the secret of its URL, kept as its SHA-256. A new secret
    replaces the old one, and deleting the row revokes the feed."""

    __tablename__ = "calendar_feeds"

    therapist_id: Mapped[int] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )


__all__ = [
    "ACTIVE_STATUSES",
    "KINDS",
    "PATIENT_LOCK_SPACE",
    "STATUSES",
    "THERAPIST_LOCK_SPACE",
    "Appointment",
    "AppointmentReminder",
    "AppointmentSeries",
    "CalendarFeed",
    "TherapistHours",
    "TherapistTimeOff",
    "patient_lock",
    "scheduling_locks",
]

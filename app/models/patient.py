import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Index,
    Numeric,
    Sequence,
    String,
    exists,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin
from app.db.types import EncryptedSessions, EncryptedText

WALLET_MAX = Decimal("99999999.99")
PATIENT_ID = re.compile(r"p_[a-z0-9]{6}")
PHONE_NO = re.compile(r"\+?[0-9]{9,15}")
MAX_TAGS = 50
# What a session's notes are encrypted for, in the patient's row and in their record's history.
SESSION_NOTES_CONTEXT = "patients.sessions.notes"

# Columns the list may be ordered by; each has an index on (column, id) so pages stay cheap.
ORDERABLE = (
    "created_at",
    "updated_at",
    "first_name",
    "last_name",
    "date_of_birth",
    "wallet_balance",
)


def is_patient_id(value: str) -> bool:
    """The one check of a patient id's form: an id that fails it names nobody, and is never
    looked up."""
    return PATIENT_ID.fullmatch(value) is not None


# Every write draws a new version, which is the patient's ETag. One sequence for all patients,
# so a version is never reused, even by a patient deleted and created again with the same id.
VERSION_SEQUENCE = Sequence("patients_version_seq", metadata=Base.metadata)


class Patient(TimestampMixin, Base):
    __tablename__ = "patients"

    id: Mapped[str] = mapped_column(String(9), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    phone_no: Mapped[str] = mapped_column(String(16), unique=True)
    allergies_and_medication: Mapped[str] = mapped_column(
        EncryptedText("patients.allergies_and_medication")
    )
    date_of_birth: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    ssn: Mapped[str | None] = mapped_column(EncryptedText("patients.ssn"))
    email: Mapped[str | None] = mapped_column(String(254))
    address: Mapped[str | None] = mapped_column(String(500))
    added_note: Mapped[str | None] = mapped_column(String(500))
    about_note: Mapped[str | None] = mapped_column(String(250))
    profile_picture: Mapped[str | None] = mapped_column(String(255))
    tags: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    wallet_balance: Mapped[Decimal] = mapped_column(Numeric(10, 2), server_default=text("0"))
    sessions: Mapped[list[dict[str, Any]]] = mapped_column(
        EncryptedSessions(SESSION_NOTES_CONTEXT), server_default=text("'[]'::jsonb")
    )
    version: Mapped[int] = mapped_column(BigInteger, server_default=VERSION_SEQUENCE.next_value())
    # Set by a DELETE: the patient is gone from every API and admin view, and kept (their id,
    # phone number and e-mail address still taken) until `python -m app purge` removes them
    # after the retention.
    deleted_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        CheckConstraint(f"id ~ '^{PATIENT_ID.pattern}$'", name="id_format"),
        CheckConstraint(f"phone_no ~ '^{PHONE_NO.pattern}$'", name="phone_no_format"),
        CheckConstraint("sex IN ('M', 'F', 'O', 'P')", name="sex_choice"),
        CheckConstraint(f"wallet_balance BETWEEN 0 AND {WALLET_MAX}", name="wallet_balance_range"),
        CheckConstraint(
            f"jsonb_typeof(tags) = 'array' AND jsonb_array_length(tags) <= {MAX_TAGS}",
            name="tags_array",
        ),
        CheckConstraint("jsonb_typeof(sessions) = 'array'", name="sessions_array"),
        *(Index(f"ix_patients_{column}_id", column, "id") for column in ORDERABLE),
        Index("ix_patients_sex", "sex"),
        Index(
            "ix_patients_deleted_at",
            "deleted_at",
            postgresql_where=text("deleted_at IS NOT NULL"),
        ),
        # An e-mail address names one patient, whatever its case (a patient logs in, and asks
        # for a password reset, by e-mail too); patients_email_exemption(id) is '' but for the
        # patients who shared one before migration 0015, which left them as they were.
        Index(
            "uq_patients_lower_email",
            func.lower(email),
            func.patients_email_exemption(id),
            unique=True,
        ),
        Index(
            "ix_patients_tags",
            "tags",
            postgresql_using="gin",
            postgresql_ops={"tags": "jsonb_path_ops"},
        ),
    )


# A patient not deleted: every read and write of the record holds to it (a deleted patient is kept
# only for an admin to restore, until purged).
KEPT = Patient.deleted_at.is_(None)


def kept(patient_id: Any) -> Any:
    """The patient `patient_id` (a column of another table) names is not deleted: a row of their
    record elsewhere (an appointment, a note, a document) is shown only then."""
    patient = Patient.__table__.alias("kept_patient")
    return exists().where(patient.c.id == patient_id, patient.c.deleted_at.is_(None))

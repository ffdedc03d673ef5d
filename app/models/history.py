from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Numeric,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.types import EncryptedSessions, EncryptedText
from app.models.patient import SESSION_NOTES_CONTEXT

REASON_MAX_LENGTH = 500
# What a version records: how the record came to be as it is in it.
ACTIONS = ("baseline", "created", "updated", "deleted", "undeleted", "restored")


class PatientVersion(Base):
    """A patient record as one change left it, written by the change's own statement: who, when,
    why, which fields changed, and the record itself (PHI encrypted as in the row; never the
    password hash). `version` is the patient's version (their ETag) after the change."""

    __tablename__ = "patient_versions"

    patient_id: Mapped[str] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    actor: Mapped[str] = mapped_column(String(160))
    actor_kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(REASON_MAX_LENGTH))
    changed: Mapped[list[str]] = mapped_column(ARRAY(Text))
    restored_from: Mapped[int | None] = mapped_column(BigInteger)

    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    phone_no: Mapped[str] = mapped_column(String(16))
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
    tags: Mapped[list[str]] = mapped_column(JSONB)
    wallet_balance: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    sessions: Mapped[list[dict[str, Any]]] = mapped_column(EncryptedSessions(SESSION_NOTES_CONTEXT))

    __table_args__ = (
        CheckConstraint(
            "action IN (" + ", ".join(f"'{action}'" for action in ACTIONS) + ")",
            name="action_choice",
        ),
    )

"""Clinical notes: progress notes of an appointment (part of the record) with their addenda,
and psychotherapy notes (HIPAA 45 CFR 164.501), kept in tables of their own, apart from the
record, with the authorizations that allow their disclosure (164.508)."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin
from app.db.types import EncryptedText
from app.models.patient import VERSION_SEQUENCE

# The templates of a progress note and each one's fields, in the order a clinician writes them.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "SOAP": ("subjective", "objective", "assessment", "plan"),
    "DAP": ("data", "assessment", "plan"),
    "BIRP": ("behavior", "intervention", "response", "plan"),
}
NOTE_STATUSES = ("draft", "signed")
PURPOSE_MAX_LENGTH = 500


def _choice(column: str, values: tuple[str, ...]) -> str:
    return "{} IN ({})".format(column, ", ".join(f"'{value}'" for value in values))


class ProgressNote(TimestampMixin, Base):
    """A progress note of an appointment, by its therapist: a draft until signed, then never
    changed (corrections are addenda)."""

    __tablename__ = "progress_notes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"))
    patient_id: Mapped[str] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE")
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    template: Mapped[str] = mapped_column(String(8))
    # The template's fields as one JSON object, encrypted at rest.
    fields: Mapped[str] = mapped_column(EncryptedText("progress_notes.fields"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'draft'"))
    signed_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    signed_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    cosigned_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    cosigned_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    withheld: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    withheld_reason: Mapped[str | None] = mapped_column(
        EncryptedText("progress_notes.withheld_reason")
    )
    version: Mapped[int] = mapped_column(BigInteger, server_default=VERSION_SEQUENCE.next_value())

    __table_args__ = (
        CheckConstraint(_choice("template", tuple(TEMPLATES)), name="template_choice"),
        CheckConstraint(_choice("status", NOTE_STATUSES), name="status_choice"),
        CheckConstraint(
            "(status = 'signed') = (signed_by IS NOT NULL AND signed_at IS NOT NULL)",
            name="signed_by_and_at",
        ),
        CheckConstraint("NOT withheld OR withheld_reason IS NOT NULL", name="withheld_reason"),
        Index("ix_progress_notes_appointment_id_id", "appointment_id", "id"),
        Index("ix_progress_notes_patient_id", "patient_id"),
    )


class ProgressNoteAddendum(Base):
    """A correction or addition to a signed progress note: signed and timestamped by its
    author when written, never changed."""

    __tablename__ = "progress_note_addenda"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("progress_notes.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    text: Mapped[str] = mapped_column(EncryptedText("progress_note_addenda.text"))
    signed_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_progress_note_addenda_note_id_id", "note_id", "id"),)


class PsychotherapyNote(Base):
    """A psychotherapy note (45 CFR 164.501): the therapist's own, apart from the record;
    readable by its author only, disclosed only under an authorization."""

    __tablename__ = "psychotherapy_notes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    patient_id: Mapped[str] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE")
    )
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL")
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    text: Mapped[str] = mapped_column(EncryptedText("psychotherapy_notes.text"))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )

    __table_args__ = (Index("ix_psychotherapy_notes_author_id_id", "author_id", "id"),)


class PsychotherapyNoteAuthorization(Base):
    """An authorization to disclose one psychotherapy note (45 CFR 164.508): entered by the
    author, to one staff member, for a purpose, until it expires or the author revokes it."""

    __tablename__ = "psychotherapy_note_authorizations"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("psychotherapy_notes.id", ondelete="CASCADE"))
    granted_by: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(EncryptedText("psychotherapy_note_authorizations.purpose"))
    expires_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    revoked_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"))

    __table_args__ = (
        CheckConstraint("(revoked_at IS NULL) = (revoked_by IS NULL)", name="revoked_by_and_at"),
        Index("ix_psychotherapy_note_authorizations_note_id", "note_id"),
    )

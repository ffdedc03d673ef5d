"""A patient's documents (consent forms, referrals, intake questionnaires): the metadata here,
the bytes encrypted in the picture store under `storage_name`, sealed with the key `key_id`."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin
from app.db.types import EncryptedText
from app.models.patient import VERSION_SEQUENCE

CATEGORIES = ("consent", "referral", "intake", "other")
CONTENT_TYPES = ("application/pdf", "image/jpeg", "image/png", "image/webp")
TITLE_MAX_LENGTH = 200
REASON_MAX_LENGTH = 500


def _choice(column: str, values: tuple[str, ...]) -> str:
    return "{} IN ({})".format(column, ", ".join(f"'{value}'" for value in values))


class PatientDocument(TimestampMixin, Base):
    __tablename__ = "patient_documents"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    patient_id: Mapped[str] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE")
    )
    appointment_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("appointments.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(EncryptedText("patient_documents.title"))
    category: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_name: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    withheld: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    withheld_reason: Mapped[str | None] = mapped_column(
        EncryptedText("patient_documents.withheld_reason")
    )
    uploaded_by: Mapped[str] = mapped_column(String(160))
    version: Mapped[int] = mapped_column(BigInteger, server_default=VERSION_SEQUENCE.next_value())

    __table_args__ = (
        CheckConstraint(_choice("category", CATEGORIES), name="category_choice"),
        CheckConstraint(_choice("content_type", CONTENT_TYPES), name="content_type_choice"),
        CheckConstraint("size >= 0", name="size_not_negative"),
        Index("ix_patient_documents_patient_id_created_at", "patient_id", "created_at"),
    )

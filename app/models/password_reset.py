from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class PasswordResetToken(Base):
    """A password-reset link's token, kept as its SHA-256 only: good once, until it expires or
    the account asks for another. Deleting the account deletes its tokens."""

    __tablename__ = "password_reset_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("staff.id", ondelete="CASCADE")
    )
    patient_id: Mapped[str | None] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        CheckConstraint("(staff_id IS NULL) <> (patient_id IS NULL)", name="one_account"),
        Index(
            "ix_password_reset_tokens_staff_id",
            "staff_id",
            postgresql_where="staff_id IS NOT NULL",
        ),
        Index(
            "ix_password_reset_tokens_patient_id",
            "patient_id",
            postgresql_where="patient_id IS NOT NULL",
        ),
    )

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base

SESSION_KINDS = ("api", "admin")


class AuthSession(Base):
    """One login: of a staff member or of a patient, through the API or the admin. An access
    token names its session, and is good only while the session is open; deleting the account
    deletes its sessions, so a token never outlives the account it was issued for, even if an
    account of the same id is made again."""

    __tablename__ = "auth_sessions"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
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
    revoked_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        CheckConstraint("(staff_id IS NULL) <> (patient_id IS NULL)", name="one_account"),
        CheckConstraint("kind IN ('api', 'admin')", name="kind_choice"),
        Index("ix_auth_sessions_staff_id", "staff_id", postgresql_where="staff_id IS NOT NULL"),
        Index(
            "ix_auth_sessions_patient_id", "patient_id", postgresql_where="patient_id IS NOT NULL"
        ),
    )


class RefreshToken(Base):
    """A refresh token of an API session, kept as its SHA-256 only. Each is used once: a refresh
    marks it used and issues the next; a used one presented again means it was stolen, and
    ends its session."""

    __tablename__ = "auth_refresh_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

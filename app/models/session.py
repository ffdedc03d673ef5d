import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, func
from sqlalchemy.dialects.postgresql import TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.models.account import OwnedByAccount

SESSION_KINDS = ("api", "admin")


class AuthSession(OwnedByAccount, Base):
    """One login: of a staff member or of a patient, through the API or the admin. An access
    token names its session, and is good only while the session is open; deleting the account
    deletes its sessions, so a token never outlives the account it was issued for, even if an
    account of the same id is made again."""

    __tablename__ = "auth_sessions"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        *OwnedByAccount.account_constraints("auth_sessions"),
        CheckConstraint("kind IN ('api', 'admin')", name="kind_choice"),
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

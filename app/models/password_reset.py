from datetime import datetime

from sqlalchemy import String, func
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.models.account import OwnedByAccount


class PasswordResetToken(OwnedByAccount, Base):
    """A password-reset link's token, kept as its SHA-256 only: good once, until it expires or
    the account asks for another. Deleting the account deletes its tokens."""

    __tablename__ = "password_reset_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = OwnedByAccount.account_constraints("password_reset_tokens")

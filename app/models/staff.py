from typing import Literal

from sqlalchemy import CheckConstraint, Identity, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin

StaffRole = Literal["admin", "therapist"]
STAFF_ROLES: tuple[StaffRole, ...] = ("admin", "therapist")


class Staff(TimestampMixin, Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    # Where a password reset is sent; unique whatever its case.
    email: Mapped[str | None] = mapped_column(String(254))
    # How patients and calendars name a therapist; the username when unset.
    display_name: Mapped[str | None] = mapped_column(String(150))
    # A therapist's National Provider Identifier, as a superbill names them.
    npi: Mapped[str | None] = mapped_column(String(10))

    __table_args__ = (
        CheckConstraint("role IN ('admin', 'therapist')", name="role_choice"),
        Index("uq_staff_lower_email", func.lower(email), unique=True),
    )

from typing import Literal

from sqlalchemy import CheckConstraint, Identity, String, text
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

    __table_args__ = (CheckConstraint("role IN ('admin', 'therapist')", name="role_choice"),)

"""What belongs to one account, a staff member's or a patient's, and dies with it."""

from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column


class OwnedByAccount:
    """A staff id or a patient id, exactly one, each cascading on delete and indexed."""

    staff_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("staff.id", ondelete="CASCADE")
    )
    patient_id: Mapped[str | None] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE")
    )

    @staticmethod
    def account_constraints(table: str) -> tuple[Any, ...]:
        return (
            CheckConstraint("(staff_id IS NULL) <> (patient_id IS NULL)", name="one_account"),
            *(
                Index(f"ix_{table}_{column}", column, postgresql_where=f"{column} IS NOT NULL")
                for column in ("staff_id", "patient_id")
            ),
        )

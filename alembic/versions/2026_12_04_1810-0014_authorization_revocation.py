"""Revoking a psychotherapy note's disclosure authorization: when and by whom (the author); a
revoked authorization no longer discloses the note.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "psychotherapy_note_authorizations"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("revoked_at", postgresql.TIMESTAMP(timezone=True)))
    op.add_column(TABLE, sa.Column("revoked_by", sa.Integer()))
    op.create_foreign_key(
        op.f("fk_psychotherapy_note_authorizations_revoked_by_staff"),
        TABLE,
        "staff",
        ["revoked_by"],
        ["id"],
        ondelete="RESTRICT",
    )
    op.create_check_constraint(
        op.f("ck_psychotherapy_note_authorizations_revoked_by_and_at"),
        TABLE,
        "(revoked_at IS NULL) = (revoked_by IS NULL)",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_psychotherapy_note_authorizations_revoked_by_and_at"), TABLE, type_="check"
    )
    op.drop_constraint(
        op.f("fk_psychotherapy_note_authorizations_revoked_by_staff"), TABLE, type_="foreignkey"
    )
    op.drop_column(TABLE, "revoked_by")
    op.drop_column(TABLE, "revoked_at")

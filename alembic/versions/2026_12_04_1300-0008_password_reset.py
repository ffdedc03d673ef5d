"""Password resets: a token per request, kept as its SHA-256, good once for a while.

A token belongs to one account row (its foreign key cascades, as a session's does), so deleting
the account deletes its tokens, and a token never resets another account made later with the
same id.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = postgresql.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "password_reset_tokens",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("patient_id", sa.String(length=9), nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "(staff_id IS NULL) <> (patient_id IS NULL)",
            name=op.f("ck_password_reset_tokens_one_account"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_password_reset_tokens_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_password_reset_tokens_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_password_reset_tokens")),
    )
    op.create_index(
        "ix_password_reset_tokens_staff_id",
        "password_reset_tokens",
        ["staff_id"],
        postgresql_where=sa.text("staff_id IS NOT NULL"),
    )
    op.create_index(
        "ix_password_reset_tokens_patient_id",
        "password_reset_tokens",
        ["patient_id"],
        postgresql_where=sa.text("patient_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("password_reset_tokens")

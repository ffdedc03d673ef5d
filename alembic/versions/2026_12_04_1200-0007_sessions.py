"""Sessions: every access token names one, and is good only while it is open; refresh tokens,
kept as digests; staff e-mail addresses, and an index for logging in by e-mail.

A session belongs to one account row (its foreign key cascades), so deleting an account ends its
sessions, and a token never works for another account made later with the same id. Tokens
issued before this migration name no session, and are refused: everyone logs in again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = postgresql.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "auth_sessions",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("patient_id", sa.String(length=9), nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "(staff_id IS NULL) <> (patient_id IS NULL)",
            name=op.f("ck_auth_sessions_one_account"),
        ),
        sa.CheckConstraint("kind IN ('api', 'admin')", name=op.f("ck_auth_sessions_kind_choice")),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_auth_sessions_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_auth_sessions_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
    )
    op.create_index(
        "ix_auth_sessions_staff_id",
        "auth_sessions",
        ["staff_id"],
        postgresql_where=sa.text("staff_id IS NOT NULL"),
    )
    op.create_index(
        "ix_auth_sessions_patient_id",
        "auth_sessions",
        ["patient_id"],
        postgresql_where=sa.text("patient_id IS NOT NULL"),
    )
    op.create_table(
        "auth_refresh_tokens",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("session_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["auth_sessions.id"],
            name=op.f("fk_auth_refresh_tokens_session_id_auth_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_auth_refresh_tokens")),
    )
    op.create_index(
        op.f("ix_auth_refresh_tokens_session_id"), "auth_refresh_tokens", ["session_id"]
    )
    op.add_column("staff", sa.Column("email", sa.String(length=254), nullable=True))
    op.create_index("uq_staff_lower_email", "staff", [sa.text("lower(email)")], unique=True)
    op.create_index("ix_patients_lower_email", "patients", [sa.text("lower(email)")])


def downgrade() -> None:
    op.drop_index("ix_patients_lower_email", table_name="patients")
    op.drop_index("uq_staff_lower_email", table_name="staff")
    op.drop_column("staff", "email")
    op.drop_table("auth_refresh_tokens")
    op.drop_table("auth_sessions")

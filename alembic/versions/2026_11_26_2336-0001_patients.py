"""The patients table: constraints for what the database can hold, indexes for the list.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 23:36:22.238952
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "patients",
        sa.Column("id", sa.String(length=9), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("phone_no", sa.String(length=16), nullable=False),
        sa.Column("allergies_and_medication", sa.Text(), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("ssn", sa.Text(), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("added_note", sa.String(length=500), nullable=True),
        sa.Column("about_note", sa.String(length=250), nullable=True),
        sa.Column("profile_picture", sa.String(length=255), nullable=True),
        sa.Column(
            "tags",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "wallet_balance",
            sa.Numeric(precision=10, scale=2),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.Column(
            "sessions",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("id ~ '^p_[a-z0-9]{6}$'", name=op.f("ck_patients_id_format")),
        sa.CheckConstraint(
            "jsonb_typeof(sessions) = 'array'", name=op.f("ck_patients_sessions_array")
        ),
        sa.CheckConstraint(
            "jsonb_typeof(tags) = 'array' AND jsonb_array_length(tags) <= 50",
            name=op.f("ck_patients_tags_array"),
        ),
        sa.CheckConstraint(
            "phone_no ~ '^\\+?[0-9]{9,15}$'", name=op.f("ck_patients_phone_no_format")
        ),
        sa.CheckConstraint("sex IN ('M', 'F', 'O', 'P')", name=op.f("ck_patients_sex_choice")),
        sa.CheckConstraint(
            "wallet_balance BETWEEN 0 AND 99999999.99",
            name=op.f("ck_patients_wallet_balance_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patients")),
        sa.UniqueConstraint("phone_no", name=op.f("uq_patients_phone_no")),
    )
    op.create_index("ix_patients_created_at_id", "patients", ["created_at", "id"], unique=False)
    op.create_index(
        "ix_patients_date_of_birth_id", "patients", ["date_of_birth", "id"], unique=False
    )
    op.create_index("ix_patients_first_name_id", "patients", ["first_name", "id"], unique=False)
    op.create_index("ix_patients_last_name_id", "patients", ["last_name", "id"], unique=False)
    op.create_index("ix_patients_sex", "patients", ["sex"], unique=False)
    op.create_index(
        "ix_patients_tags",
        "patients",
        ["tags"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"tags": "jsonb_path_ops"},
    )
    op.create_index("ix_patients_updated_at_id", "patients", ["updated_at", "id"], unique=False)
    op.create_index(
        "ix_patients_wallet_balance_id", "patients", ["wallet_balance", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("patients")

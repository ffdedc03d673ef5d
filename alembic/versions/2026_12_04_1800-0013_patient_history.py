"""Patient record history and soft delete: every change of a patient kept as a version (PHI
encrypted as in the row), and `deleted_at` for a patient deleted but kept until purged. Each
patient's record as it stands becomes their first version ("baseline").

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = postgresql.TIMESTAMP(timezone=True)
RECORD = (
    "first_name",
    "last_name",
    "phone_no",
    "allergies_and_medication",
    "date_of_birth",
    "sex",
    "ssn",
    "email",
    "address",
    "added_note",
    "about_note",
    "profile_picture",
    "tags",
    "wallet_balance",
    "sessions",
)


def upgrade() -> None:
    op.add_column("patients", sa.Column("deleted_at", TIMESTAMP, nullable=True))
    op.create_index(
        "ix_patients_deleted_at",
        "patients",
        ["deleted_at"],
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
    )
    op.create_table(
        "patient_versions",
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("changed", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("restored_from", sa.BigInteger(), nullable=True),
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
        sa.Column("tags", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("wallet_balance", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("sessions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint(
            "action IN ('baseline', 'created', 'updated', 'deleted', 'undeleted', 'restored')",
            name=op.f("ck_patient_versions_action_choice"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_patient_versions_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "version", name=op.f("pk_patient_versions")),
    )
    columns = ", ".join(RECORD)
    # The columns are this file's constants, not input.
    op.execute(
        "INSERT INTO patient_versions (patient_id, version, at, actor, actor_kind, action,"  # noqa: S608
        f" changed, {columns}) SELECT id, version, updated_at, 'migration', 'system',"
        f" 'baseline', '{{}}', {columns} FROM patients"
    )


def downgrade() -> None:
    op.drop_table("patient_versions")
    op.drop_index("ix_patients_deleted_at", table_name="patients")
    op.drop_column("patients", "deleted_at")

"""Patient documents: metadata of uploaded PDFs and images, whose bytes are kept encrypted in the
picture store (the key id recorded, so that keys can be rotated).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = postgresql.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "patient_documents",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("appointment_id", sa.BigInteger(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_name", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("withheld", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("withheld_reason", sa.Text(), nullable=True),
        sa.Column("uploaded_by", sa.String(length=160), nullable=False),
        sa.Column(
            "version",
            sa.BigInteger(),
            server_default=sa.text("nextval('patients_version_seq')"),
            nullable=False,
        ),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "category IN ('consent', 'referral', 'intake', 'other')",
            name=op.f("ck_patient_documents_category_choice"),
        ),
        sa.CheckConstraint(
            "content_type IN ('application/pdf', 'image/jpeg', 'image/png', 'image/webp')",
            name=op.f("ck_patient_documents_content_type_choice"),
        ),
        sa.CheckConstraint("size >= 0", name=op.f("ck_patient_documents_size_not_negative")),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_patient_documents_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_patient_documents_appointment_id_appointments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_documents")),
    )
    op.create_index(
        "ix_patient_documents_patient_id_created_at",
        "patient_documents",
        ["patient_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_patient_documents_patient_id_created_at", table_name="patient_documents")
    op.drop_table("patient_documents")

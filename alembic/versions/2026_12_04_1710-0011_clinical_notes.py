"""Clinical notes: progress notes of appointments and their addenda (part of the record), and
psychotherapy notes with their disclosure authorizations, in tables of their own, apart from
the record (HIPAA 45 CFR 164.501, 164.508). Every note body is encrypted at rest.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-04 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = postgresql.TIMESTAMP(timezone=True)


def _fk(table: str, column: str, referred: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{referred}.id"],
        name=op.f(f"fk_{table}_{column}_{referred}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "progress_notes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("appointment_id", sa.BigInteger(), nullable=False),
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(length=8), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'draft'"), nullable=False
        ),
        sa.Column("signed_by", sa.Integer(), nullable=True),
        sa.Column("signed_at", TIMESTAMP, nullable=True),
        sa.Column("cosigned_by", sa.Integer(), nullable=True),
        sa.Column("cosigned_at", TIMESTAMP, nullable=True),
        sa.Column("withheld", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("withheld_reason", sa.Text(), nullable=True),
        sa.Column(
            "version",
            sa.BigInteger(),
            server_default=sa.text("nextval('patients_version_seq')"),
            nullable=False,
        ),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "template IN ('SOAP', 'DAP', 'BIRP')", name=op.f("ck_progress_notes_template_choice")
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'signed')", name=op.f("ck_progress_notes_status_choice")
        ),
        sa.CheckConstraint(
            "(status = 'signed') = (signed_by IS NOT NULL AND signed_at IS NOT NULL)",
            name=op.f("ck_progress_notes_signed_by_and_at"),
        ),
        sa.CheckConstraint(
            "NOT withheld OR withheld_reason IS NOT NULL",
            name=op.f("ck_progress_notes_withheld_reason"),
        ),
        _fk("progress_notes", "appointment_id", "appointments", "CASCADE"),
        _fk("progress_notes", "patient_id", "patients", "CASCADE"),
        _fk("progress_notes", "author_id", "staff", "RESTRICT"),
        _fk("progress_notes", "signed_by", "staff", "RESTRICT"),
        _fk("progress_notes", "cosigned_by", "staff", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progress_notes")),
    )
    op.create_index(
        "ix_progress_notes_appointment_id_id", "progress_notes", ["appointment_id", "id"]
    )
    op.create_index("ix_progress_notes_patient_id", "progress_notes", ["patient_id"])
    op.create_table(
        "progress_note_addenda",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("note_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("signed_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        _fk("progress_note_addenda", "note_id", "progress_notes", "CASCADE"),
        _fk("progress_note_addenda", "author_id", "staff", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progress_note_addenda")),
    )
    op.create_index(
        "ix_progress_note_addenda_note_id_id", "progress_note_addenda", ["note_id", "id"]
    )
    op.create_table(
        "psychotherapy_notes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("appointment_id", sa.BigInteger(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        _fk("psychotherapy_notes", "patient_id", "patients", "CASCADE"),
        _fk("psychotherapy_notes", "appointment_id", "appointments", "SET NULL"),
        _fk("psychotherapy_notes", "author_id", "staff", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_psychotherapy_notes")),
    )
    op.create_index(
        "ix_psychotherapy_notes_author_id_id", "psychotherapy_notes", ["author_id", "id"]
    )
    op.create_table(
        "psychotherapy_note_authorizations",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("note_id", sa.BigInteger(), nullable=False),
        sa.Column("granted_by", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        _fk("psychotherapy_note_authorizations", "note_id", "psychotherapy_notes", "CASCADE"),
        _fk("psychotherapy_note_authorizations", "granted_by", "staff", "RESTRICT"),
        _fk("psychotherapy_note_authorizations", "recipient_id", "staff", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_psychotherapy_note_authorizations")),
    )
    op.create_index(
        "ix_psychotherapy_note_authorizations_note_id",
        "psychotherapy_note_authorizations",
        ["note_id"],
    )


def downgrade() -> None:
    op.drop_table("psychotherapy_note_authorizations")
    op.drop_table("psychotherapy_notes")
    op.drop_table("progress_note_addenda")
    op.drop_table("progress_notes")

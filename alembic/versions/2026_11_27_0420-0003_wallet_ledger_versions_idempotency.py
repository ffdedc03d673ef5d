"""The wallet ledger, patient versions (ETags) and stored responses to idempotent retries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("patients_version_seq")))
    op.add_column(
        "patients",
        sa.Column(
            "version",
            sa.BigInteger(),
            server_default=sa.text("nextval('patients_version_seq'::regclass)"),
            nullable=False,
        ),
    )
    op.create_table(
        "wallet_transactions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("amount", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("balance_after", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_wallet_transactions_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_wallet_transactions_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_transactions")),
    )
    op.create_index(
        "ix_wallet_transactions_patient_id_id",
        "wallet_transactions",
        ["patient_id", "id"],
        unique=False,
    )
    # Balances from before the ledger become its first rows, so every ledger sums to its balance.
    op.execute(
        "INSERT INTO wallet_transactions (patient_id, amount, balance_after, reason, actor,"
        " actor_kind) SELECT id, wallet_balance, wallet_balance, 'Opening balance', 'system',"
        " 'system' FROM patients WHERE wallet_balance <> 0"
    )
    op.create_table(
        "idempotent_responses",
        sa.Column("caller", sa.String(length=170), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("caller", "key", name=op.f("pk_idempotent_responses")),
    )
    op.create_index(
        op.f("ix_idempotent_responses_created_at"),
        "idempotent_responses",
        ["created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("idempotent_responses")
    op.drop_table("wallet_transactions")
    op.drop_column("patients", "version")
    op.execute(sa.schema.DropSequence(sa.Sequence("patients_version_seq")))

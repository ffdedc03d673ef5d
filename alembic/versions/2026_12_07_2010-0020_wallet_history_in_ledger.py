"""The wallet's history becomes part of the ledger.

Each row of `wallet_transactions` becomes a `wallet_adjustment` transaction of the ledger, in
the order they were written, with its reason as the memo, its actor and its time: an entry on
the patient's wallet (minus the amount: the wallet is what the practice owes the patient) with
the balance after it, against the practice's `adjustments`. Then the table goes.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = postgresql.TIMESTAMP(timezone=True)

MOVE = """
WITH moved AS (
    SELECT id AS old_id, patient_id, amount, balance_after, reason, actor, actor_kind, created_at,
           nextval(pg_get_serial_sequence('ledger_transactions', 'id')) AS transaction_id
    FROM wallet_transactions ORDER BY id
), posted AS (
    INSERT INTO ledger_transactions (id, kind, patient_id, memo, actor, actor_kind, created_at)
    OVERRIDING SYSTEM VALUE
    SELECT transaction_id, 'wallet_adjustment', patient_id, reason, actor, actor_kind, created_at
    FROM moved
)
INSERT INTO ledger_entries (transaction_id, account, patient_id, amount, balance_after, created_at)
SELECT transaction_id, side.account, side.patient_id, side.amount, side.balance_after, created_at
FROM moved, LATERAL (VALUES
    (1, 'wallet', moved.patient_id, -moved.amount, moved.balance_after),
    (2, 'adjustments', NULL, moved.amount, NULL)
) AS side (position, account, patient_id, amount, balance_after)
ORDER BY moved.old_id, side.position
"""

MOVE_BACK = """
INSERT INTO wallet_transactions
    (patient_id, amount, balance_after, reason, actor, actor_kind, created_at)
SELECT e.patient_id, -e.amount, e.balance_after, t.memo, t.actor, t.actor_kind, e.created_at
FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
WHERE e.account = 'wallet' AND e.patient_id IS NOT NULL
ORDER BY e.id
"""


def upgrade() -> None:
    op.execute(MOVE)
    op.drop_index("ix_wallet_transactions_patient_id_id", table_name="wallet_transactions")
    op.drop_table("wallet_transactions")


def downgrade() -> None:
    op.create_table(
        "wallet_transactions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("amount", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("balance_after", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
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
    op.execute(MOVE_BACK)

"""One ledger for all money: every movement is a transaction of entries that sum to zero.

Amounts are signed, debits positive. An invoice's amount due is the sum of its `receivable`
entries; a patient's wallet is minus the sum of their `wallet` entries (the wallet is what the
practice owes them). PostgreSQL keeps the ledger whole (migration 0019): a deferred constraint
trigger refuses a transaction whose entries do not sum to zero at commit, and entries are never
updated or deleted, but for a purged patient's name, which becomes null."""

from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Numeric,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base

Account = Literal[
    "receivable", "wallet", "revenue", "cash", "processor", "refunds", "bad_debt", "adjustments"
]
ACCOUNTS: tuple[Account, ...] = (
    "receivable",
    "wallet",
    "revenue",
    "cash",
    "processor",
    "refunds",
    "bad_debt",
    "adjustments",
)
TransactionKind = Literal[
    "invoice", "fee", "payment", "wallet_applied", "wallet_topup", "wallet_adjustment",
    "refund", "write_off", "void",
]  # fmt: skip
TRANSACTION_KINDS: tuple[TransactionKind, ...] = (
    "invoice",
    "fee",
    "payment",
    "wallet_applied",
    "wallet_topup",
    "wallet_adjustment",
    "refund",
    "write_off",
    "void",
)
MEMO_MAX_LENGTH = 255


def _choice(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class LedgerTransaction(Base):
    """One movement of money: who moved it, why, and what it concerns."""

    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    patient_id: Mapped[str | None] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="SET NULL")
    )
    invoice_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("invoices.id"))
    payment_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("payments.id"))
    refund_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("refunds.id"))
    # Ready for insurance claims: the claim a movement settles (an X12 claim id, say).
    claim_reference: Mapped[str | None] = mapped_column(String(64))
    memo: Mapped[str | None] = mapped_column(String(MEMO_MAX_LENGTH))
    actor: Mapped[str] = mapped_column(String(160))
    actor_kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint(_choice("kind", TRANSACTION_KINDS), name="kind_choice"),
        Index("ix_ledger_transactions_payment_id", "payment_id"),
        Index("ix_ledger_transactions_invoice_id", "invoice_id"),
    )


class LedgerEntry(Base):
    """One side of a movement: an amount on one account, for a patient and an invoice when the
    account is theirs. `balance_after` is the wallet's balance after a `wallet` entry."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    transaction_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_transactions.id"))
    account: Mapped[str] = mapped_column(String(16))
    patient_id: Mapped[str | None] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="SET NULL")
    )
    invoice_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("invoices.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    balance_after: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint(_choice("account", ACCOUNTS), name="account_choice"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_ledger_entries_transaction_id", "transaction_id"),
        Index("ix_ledger_entries_invoice_id", "invoice_id", "account"),
        Index("ix_ledger_entries_patient_id_account_id", "patient_id", "account", "id"),
    )

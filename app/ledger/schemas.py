from decimal import Decimal
from typing import NamedTuple, TypedDict

from app.models.ledger import Account, TransactionKind

__all__ = ["Account", "Entry", "PostedRow", "SumRow", "TransactionKind"]


class Entry(NamedTuple):
    """One side of a movement: debits positive, credits negative."""

    account: Account
    amount: Decimal
    patient_id: str | None = None
    invoice_id: int | None = None
    balance_after: Decimal | None = None  # a wallet entry's: the wallet's balance after it


class PostedRow(TypedDict):
    id: int


class SumRow(TypedDict):
    total: Decimal

"""The rows the wallet's statements return (app.db.query: checked against each statement when it
is compiled)."""

from datetime import datetime
from decimal import Decimal
from typing import TypedDict


class LedgerEntryRow(TypedDict):
    """One change of a wallet balance, as the patient's ledger lists it."""

    id: int
    amount: Decimal
    balance_after: Decimal
    reason: str | None
    actor: str
    created_at: datetime

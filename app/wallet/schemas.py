from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, TypedDict

from pydantic import AfterValidator, ConfigDict, Field

from app.core.fields import Money, Text, amount, amount_schema, error
from app.core.schemas import BaseSchema
from app.models.ledger import MEMO_MAX_LENGTH


# The rows its statements return: TypedDicts, checked against each statement when it is
# compiled (app.db.query).
class LedgerEntryRow(TypedDict):
    """One change of a wallet balance, as the patient's ledger lists it."""

    id: int
    amount: Decimal
    balance_after: Decimal
    reason: str | None
    actor: str
    created_at: datetime


WALLET_UPDATE: dict[str, Any] = {"amount": "25.50", "reason": "Top-up"}
WALLET_TRANSACTION: dict[str, Any] = {
    "id": 1042,
    "amount": "25.50",
    "balance_after": "25.50",
    "reason": "Top-up",
    "actor": "admin",
    "created_at": "2024-05-01T15:40:12.001000Z",
}


AMOUNT_LIMIT = Decimal(1_000_000)


def _check_nonzero(value: Decimal) -> Decimal:
    if value == 0:
        raise error("amount_zero", "Amount must not be zero.")
    return value


Amount = Annotated[
    Decimal,
    amount(-AMOUNT_LIMIT, AMOUNT_LIMIT),
    amount_schema(-AMOUNT_LIMIT, AMOUNT_LIMIT),
    AfterValidator(_check_nonzero),
]
WalletReason = Annotated[Text, Field(max_length=MEMO_MAX_LENGTH)]


class WalletUpdate(BaseSchema):
    """A signed, non-zero change of the wallet balance."""

    model_config = ConfigDict(json_schema_extra={"examples": [WALLET_UPDATE]})

    amount: Amount = Field(
        examples=["25.50"],
        description="Plain ASCII digits, an optional leading minus, at most 2 decimal places "
        '("25.50", "-10"), as a string or a JSON number written the same way; not zero.',
    )
    reason: WalletReason | None = Field(
        default=None, description="Why the balance changed; kept in the wallet's ledger."
    )


class WalletTransactionRead(BaseSchema):
    """One change of the wallet balance, from the patient's ledger."""

    model_config = ConfigDict(json_schema_extra={"examples": [WALLET_TRANSACTION]})
    list_path: ClassVar[str] = "/api/patients/p_zxcp0h/wallet_transactions/"

    id: int
    amount: Money = Field(examples=["25.50"])
    balance_after: Money = Field(examples=["125.50"])
    reason: str | None
    actor: str
    created_at: datetime

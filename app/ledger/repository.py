"""The ledger's SQL: a transaction and its entries written in one statement, and its sums."""

from collections.abc import Sequence
from decimal import Decimal
from typing import cast

from sqlalchemy import ARRAY, BigInteger, Numeric, String, Table, bindparam, func, insert, select

from app.db.query import Executor, Query
from app.ledger.schemas import Entry, PostedRow, SumRow, TransactionKind
from app.models.ledger import LedgerEntry, LedgerTransaction

TRANSACTIONS = cast(Table, LedgerTransaction.__table__)
ENTRIES = cast(Table, LedgerEntry.__table__)


class Unbalanced(ValueError):
    """Entries that do not sum to zero: a bug, refused before PostgreSQL refuses it at commit."""


def _post() -> Query[PostedRow]:
    posted = (
        insert(TRANSACTIONS)
        .values(
            kind=bindparam("kind"),
            patient_id=bindparam("patient_id"),
            invoice_id=bindparam("invoice_id"),
            payment_id=bindparam("payment_id"),
            refund_id=bindparam("refund_id"),
            memo=bindparam("memo"),
            actor=bindparam("actor"),
            actor_kind=bindparam("actor_kind"),
        )
        .returning(TRANSACTIONS.c.id)
        .cte("posted")
    )
    sides = (
        func.unnest(
            bindparam("accounts", type_=ARRAY(String)),
            bindparam("patients", type_=ARRAY(String)),
            bindparam("invoices", type_=ARRAY(BigInteger)),
            bindparam("amounts", type_=ARRAY(Numeric(12, 2))),
            bindparam("balances", type_=ARRAY(Numeric(12, 2))),
        )
        .table_valued("account", "patient_id", "invoice_id", "amount", "balance_after")
        .render_derived("side")
    )
    rows = select(
        posted.c.id,
        sides.c.account,
        sides.c.patient_id,
        sides.c.invoice_id,
        sides.c.amount,
        sides.c.balance_after,
    )
    entries = insert(ENTRIES).from_select(
        ["transaction_id", "account", "patient_id", "invoice_id", "amount", "balance_after"],
        rows,
    )
    return Query(select(posted.c.id).add_cte(entries.cte("entries")), PostedRow)


_POST = _post()
_INVOICE_DUE = Query(
    select(func.coalesce(func.sum(LedgerEntry.amount), 0).label("total")).where(
        LedgerEntry.invoice_id == bindparam("invoice_id"), LedgerEntry.account == "receivable"
    ),
    SumRow,
)
_PATIENT_OWES = Query(
    select(func.coalesce(func.sum(LedgerEntry.amount), 0).label("total")).where(
        LedgerEntry.patient_id == bindparam("patient_id"), LedgerEntry.account == "receivable"
    ),
    SumRow,
)
_TOTAL = Query(select(func.coalesce(func.sum(LedgerEntry.amount), 0).label("total")), SumRow)


class LedgerRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def post(
        self,
        kind: TransactionKind,
        entries: Sequence[Entry],
        *,
        actor: str,
        actor_kind: str,
        patient_id: str | None = None,
        invoice_id: int | None = None,
        payment_id: int | None = None,
        refund_id: int | None = None,
        memo: str | None = None,
    ) -> int:
        """Post a balanced movement; its id. PostgreSQL checks the balance again at commit."""
        entries = [entry for entry in entries if entry.amount != 0]
        if sum(entry.amount for entry in entries) != 0 or not entries:
            raise Unbalanced(f"a {kind} whose entries do not balance")
        row = await self.executor.fetch_one(
            _POST,
            kind=kind,
            patient_id=patient_id,
            invoice_id=invoice_id,
            payment_id=payment_id,
            refund_id=refund_id,
            memo=memo,
            actor=actor,
            actor_kind=actor_kind,
            accounts=[entry.account for entry in entries],
            patients=[entry.patient_id for entry in entries],
            invoices=[entry.invoice_id for entry in entries],
            amounts=[entry.amount for entry in entries],
            balances=[entry.balance_after for entry in entries],
        )
        assert row is not None
        return row["id"]

    async def invoice_due(self, invoice_id: int) -> Decimal:
        """What is owed on an invoice: the sum of its receivable entries."""
        row = await self.executor.fetch_one(_INVOICE_DUE, invoice_id=invoice_id)
        return Decimal(0) if row is None else row["total"]

    async def patient_owes(self, patient_id: str) -> Decimal:
        row = await self.executor.fetch_one(_PATIENT_OWES, patient_id=patient_id)
        return Decimal(0) if row is None else row["total"]

    async def total(self) -> Decimal:
        """The sum of every entry: zero, always."""
        row = await self.executor.fetch_one(_TOTAL)
        return Decimal(0) if row is None else row["total"]

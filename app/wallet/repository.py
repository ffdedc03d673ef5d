"""The wallet's SQL: the balance and its ledger entries, written together in one statement."""

from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, literal, null, select, update

from app.core.conditional import Versions
from app.db.counting import Count, Counting
from app.db.query import Executor, Query
from app.models.ledger import LedgerEntry, LedgerTransaction
from app.models.patient import WALLET_MAX, Patient
from app.patients.repository import COLUMNS, changed, matching, versioned
from app.patients.schemas import PatientRow
from app.patients.versions import version_of
from app.wallet.schemas import LedgerEntryRow

TRANSACTIONS = cast(Table, LedgerTransaction.__table__)
ENTRIES = cast(Table, LedgerEntry.__table__)


def _change(conditional: bool) -> Query[PatientRow]:
    """Add a signed amount, post it to the ledger (the patient's wallet against the practice's
    adjustments) and write the patient's version, in one statement: the UPDATE never loses a
    concurrent change, and the row lock it takes until commit makes `balance_after` exact."""
    amount = bindparam("amount", type_=Patient.wallet_balance.type)
    new_balance = Patient.wallet_balance + amount
    changed_patient = (
        update(Patient)
        .where(*matching(conditional), new_balance.between(0, WALLET_MAX))
        .values(wallet_balance=new_balance, **changed())
        .returning(*COLUMNS)
        .cte("changed")
    )
    reason = bindparam("reason", type_=TRANSACTIONS.c.memo.type)
    posted = (
        insert(TRANSACTIONS)
        .from_select(
            ["kind", "patient_id", "memo", "actor", "actor_kind"],
            select(
                literal("wallet_adjustment"),
                changed_patient.c.id,
                reason,
                bindparam("actor", type_=TRANSACTIONS.c.actor.type),
                bindparam("actor_kind", type_=TRANSACTIONS.c.actor_kind.type),
            ),
        )
        .returning(TRANSACTIONS.c.id)
        .cte("posted")
    )
    # The wallet is what the practice owes the patient: a credit (negative) raises it.
    wallet_side = select(
        posted.c.id,
        literal("wallet"),
        changed_patient.c.id,
        -amount,
        changed_patient.c.wallet_balance,
    )
    adjustment_side = select(posted.c.id, literal("adjustments"), null(), amount, null())
    entries = insert(ENTRIES).from_select(
        ["transaction_id", "account", "patient_id", "amount", "balance_after"],
        wallet_side.union_all(adjustment_side),
    )
    version = version_of(changed_patient, "updated", ["wallet_balance"], reason=reason)
    return Query(
        select(*changed_patient.c).add_cte(entries.cte("entries")).add_cte(version), PatientRow
    )


_CHANGE = {conditional: _change(conditional) for conditional in (True, False)}
_WALLET = (
    LedgerEntry.patient_id == bindparam("patient_id"),
    LedgerEntry.account == "wallet",
)
_LEDGER_COUNT = Counting(select(LedgerEntry.id).where(*_WALLET))
_LEDGER_PAGE = Query(
    select(
        LedgerEntry.id,
        (-LedgerEntry.amount).label("amount"),
        LedgerEntry.balance_after,
        LedgerTransaction.memo.label("reason"),
        LedgerTransaction.actor,
        LedgerEntry.created_at,
    )
    .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
    .where(*_WALLET)
    .order_by(LedgerEntry.id.desc())
    .offset(bindparam("offset"))
    .limit(bindparam("limit")),
    LedgerEntryRow,
)


class WalletRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def change(
        self,
        patient_id: str,
        amount: Any,
        *,
        actor: str,
        actor_kind: str,
        reason: str | None,
        versions: Versions = None,
    ) -> PatientRow | None:
        """The patient with the amount added; None when it was not (missing, a stale If-Match,
        or a balance out of range)."""
        return await self.executor.fetch_one(
            _CHANGE[versions is not None],
            id=patient_id,
            amount=amount,
            reason=reason,
            actor=actor,
            actor_kind=actor_kind,
            **versioned(versions),
        )

    async def transactions(
        self, patient_id: str, *, offset: int, limit: int
    ) -> list[LedgerEntryRow]:
        """The ledger, newest first."""
        return await self.executor.fetch(
            _LEDGER_PAGE, patient_id=patient_id, offset=offset, limit=limit
        )

    async def count(self, patient_id: str, *, exact_up_to: int | None) -> Count:
        return await _LEDGER_COUNT.count(
            self.executor, {"patient_id": patient_id}, exact_up_to=exact_up_to
        )

"""The wallet's SQL: the balance and its ledger, written together in one statement."""

from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update

from app.core.conditional import Versions
from app.db.counting import Count, Counting
from app.db.query import Executor, Query
from app.models.patient import WALLET_MAX, Patient
from app.models.wallet import WalletTransaction
from app.patients.repository import COLUMNS, changed, matching, versioned
from app.patients.schemas import PatientRow
from app.patients.versions import version_of
from app.wallet.schemas import LedgerEntryRow

LEDGER = cast(Table, WalletTransaction.__table__)


def _change(conditional: bool) -> Query[PatientRow]:
    """Add a signed amount and write its ledger row and the patient's version, in one
    statement: the UPDATE never loses a concurrent change, and the row lock it takes until
    commit makes `balance_after` exact (one statement also holds that lock for less time)."""
    amount = bindparam("amount", type_=Patient.wallet_balance.type)
    new_balance = Patient.wallet_balance + amount
    changed_patient = (
        update(Patient)
        .where(*matching(conditional), new_balance.between(0, WALLET_MAX))
        .values(wallet_balance=new_balance, **changed())
        .returning(*COLUMNS)
        .cte("changed")
    )
    reason = bindparam("reason", type_=LEDGER.c.reason.type)
    entry = select(
        changed_patient.c.id,
        amount,
        changed_patient.c.wallet_balance,
        reason,
        bindparam("actor", type_=LEDGER.c.actor.type),
        bindparam("actor_kind", type_=LEDGER.c.actor_kind.type),
    )
    columns = ["patient_id", "amount", "balance_after", "reason", "actor", "actor_kind"]
    ledger = insert(LEDGER).from_select(columns, entry).cte("ledger")
    version = version_of(changed_patient, "updated", ["wallet_balance"], reason=reason)
    return Query(select(*changed_patient.c).add_cte(ledger).add_cte(version), PatientRow)


_CHANGE = {conditional: _change(conditional) for conditional in (True, False)}
_LEDGER_COUNT = Counting(
    select(WalletTransaction.id).where(WalletTransaction.patient_id == bindparam("patient_id"))
)
_LEDGER_PAGE = Query(
    select(
        WalletTransaction.id,
        WalletTransaction.amount,
        WalletTransaction.balance_after,
        WalletTransaction.reason,
        WalletTransaction.actor,
        WalletTransaction.created_at,
    )
    .where(WalletTransaction.patient_id == bindparam("patient_id"))
    .order_by(WalletTransaction.id.desc())
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

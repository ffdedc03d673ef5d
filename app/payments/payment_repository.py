"""The SQL of payments: a payment and what it paid, refunds, and the wallet a payment takes
from or gives back to (with the patient's version, as every change of the patient)."""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Integer,
    Numeric,
    String,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.db.counting import Count, Counting
from app.db.query import Executor, NoRow, Query
from app.db.repository import columns_of
from app.models.invoices import Invoice
from app.models.ledger import LedgerEntry
from app.models.patient import WALLET_MAX, Patient
from app.models.payments import (
    Payment,
    PaymentAllocation,
    PaymentMethod,
    ProcessorCustomer,
    ProcessorEvent,
    Refund,
)
from app.patients.repository import COLUMNS as PATIENT_COLUMNS
from app.patients.repository import changed, matching
from app.patients.schemas import PatientIdRow
from app.patients.versions import version_of
from app.payments.schemas import (
    AllocationRow,
    BalanceRow,
    CardRow,
    DueRow,
    EventRow,
    PaymentRow,
    RefundRow,
)

PAYMENTS = cast(Table, Payment.__table__)
ALLOCATIONS = cast(Table, PaymentAllocation.__table__)
REFUNDS = cast(Table, Refund.__table__)
EVENTS = cast(Table, ProcessorEvent.__table__)
_ID = bindparam("id", type_=BigInteger)
_IDS = bindparam("ids", type_=ARRAY(BigInteger))
UNDER_WAY = ("pending", "requires_action")

_PAYMENT_COLUMNS = columns_of(PAYMENTS, PaymentRow)
_GET = Query(select(*_PAYMENT_COLUMNS).where(Payment.id == _ID), PaymentRow)
_LOCK = Query(select(*_PAYMENT_COLUMNS).where(Payment.id == _ID).with_for_update(), PaymentRow)
_BY_INTENT = Query(
    select(*_PAYMENT_COLUMNS)
    .where(Payment.processor_intent_id == bindparam("intent", type_=String))
    .with_for_update(),
    PaymentRow,
)
_INSERT = Query(
    insert(PAYMENTS)
    .values(
        patient_id=bindparam("patient_id", type_=String),
        purpose=bindparam("purpose", type_=String),
        method=bindparam("method", type_=String),
        status=bindparam("status", type_=String),
        amount=bindparam("amount", type_=Numeric(12, 2)),
        currency=bindparam("currency", type_=String),
        payment_method_id=bindparam("payment_method_id", type_=BigInteger),
        processor_intent_id=bindparam("processor_intent_id", type_=String),
        reference=bindparam("reference", type_=String),
        succeeded_at=case((bindparam("status", type_=String) == "succeeded", func.now())),
        created_by=bindparam("created_by", type_=String),
        created_by_kind=bindparam("created_by_kind", type_=String),
    )
    .returning(*_PAYMENT_COLUMNS),
    PaymentRow,
)
_allocated = (
    func.unnest(_IDS, bindparam("amounts", type_=ARRAY(Numeric(12, 2))))
    .table_valued("invoice_id", "amount")
    .render_derived("allocated")
)
_ALLOCATE = Query(
    insert(ALLOCATIONS).from_select(
        ["payment_id", "invoice_id", "amount"],
        select(_ID, _allocated.c.invoice_id, _allocated.c.amount),
    ),
    NoRow,
)
_ALLOCATIONS = Query(
    select(
        PaymentAllocation.payment_id,
        PaymentAllocation.invoice_id,
        Invoice.number,
        PaymentAllocation.amount,
    )
    .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
    .where(PaymentAllocation.payment_id == func.any(_IDS))
    .order_by(PaymentAllocation.payment_id, PaymentAllocation.invoice_id),
    AllocationRow,
)
_UNDER_WAY = Query(
    select(
        PaymentAllocation.payment_id,
        PaymentAllocation.invoice_id,
        Invoice.number,
        PaymentAllocation.amount,
    )
    .join(Payment, Payment.id == PaymentAllocation.payment_id)
    .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
    .where(
        PaymentAllocation.invoice_id == func.any(_IDS),
        or_(*(Payment.status == status for status in UNDER_WAY)),
    ),
    AllocationRow,
)
_event_at = bindparam("event_at", type_=TIMESTAMP(timezone=True))
_status = bindparam("status", type_=String)
_OUTCOME = Query(
    update(PAYMENTS)
    .where(Payment.id == _ID)
    .values(
        status=_status,
        processor_intent_id=func.coalesce(
            bindparam("intent", type_=String), Payment.processor_intent_id
        ),
        failure_message=bindparam("failure_message", type_=String),
        succeeded_at=case((_status == "succeeded", func.now()), else_=Payment.succeeded_at),
        processor_event_at=func.coalesce(_event_at, Payment.processor_event_at),
        updated_at=func.now(),
    )
    .returning(*_PAYMENT_COLUMNS),
    PaymentRow,
)
_DISPUTED = Query(
    update(PAYMENTS)
    .where(Payment.id == _ID)
    .values(
        disputed_at=func.coalesce(Payment.disputed_at, func.now()),
        dispute_status=bindparam("dispute_status", type_=String),
        updated_at=func.now(),
    )
    .returning(*_PAYMENT_COLUMNS),
    PaymentRow,
)
_REFUNDED = Query(
    update(PAYMENTS)
    .where(
        Payment.id == _ID,
        Payment.amount_refunded + bindparam("amount", type_=Numeric(12, 2)) <= Payment.amount,
    )
    .values(
        amount_refunded=Payment.amount_refunded + bindparam("amount", type_=Numeric(12, 2)),
        updated_at=func.now(),
    )
    .returning(*_PAYMENT_COLUMNS),
    PaymentRow,
)
_REFUND_COLUMNS = columns_of(REFUNDS, RefundRow)
_INSERT_REFUND = Query(
    insert(REFUNDS)
    .values(
        payment_id=_ID,
        amount=bindparam("amount", type_=Numeric(12, 2)),
        status="succeeded",
        processor_refund_id=bindparam("processor_refund_id", type_=String),
        reason=bindparam("reason", type_=String),
        created_by=bindparam("created_by", type_=String),
    )
    .returning(*_REFUND_COLUMNS),
    RefundRow,
)
_REFUND_BY_PROCESSOR_ID = Query(
    select(*_REFUND_COLUMNS).where(Refund.processor_refund_id == bindparam("refund", type_=String)),
    RefundRow,
)
_CARD = Query(
    select(PaymentMethod.id, PaymentMethod.processor_id, ProcessorCustomer.customer_id)
    .join(ProcessorCustomer, ProcessorCustomer.patient_id == PaymentMethod.patient_id)
    .where(
        PaymentMethod.patient_id == bindparam("patient_id", type_=String),
        PaymentMethod.removed_at.is_(None),
        or_(
            PaymentMethod.id == bindparam("card_id", type_=BigInteger),
            and_(bindparam("card_id", type_=BigInteger).is_(None), PaymentMethod.is_default),
        ),
    ),
    CardRow,
)


def _wallet_change() -> Query[BalanceRow]:
    """Add a signed amount to the patient's wallet, within 0…WALLET_MAX, with the version the
    change leaves; nothing when it would leave that range."""
    amount = bindparam("amount", type_=Patient.wallet_balance.type)
    new_balance = Patient.wallet_balance + amount
    changed_patient = (
        update(Patient)
        .where(*matching(False), new_balance.between(0, WALLET_MAX))
        .values(wallet_balance=new_balance, **changed())
        .returning(*PATIENT_COLUMNS)
        .cte("changed")
    )
    reason = bindparam("reason", type_=String)
    version = version_of(changed_patient, "updated", ["wallet_balance"], reason=reason)
    return Query(select(changed_patient.c.wallet_balance).add_cte(version), BalanceRow)


_WALLET_CHANGE = _wallet_change()
_RECORD_EVENT = Query(
    pg_insert(EVENTS)
    .values(
        id=bindparam("event_id", type_=String),
        type=bindparam("type", type_=String),
        created=bindparam("created", type_=TIMESTAMP(timezone=True)),
        outcome=bindparam("outcome", type_=String),
    )
    .on_conflict_do_nothing()
    .returning(ProcessorEvent.id),
    EventRow,
)
_KNOWN_PATIENT = Query(
    select(Patient.id).where(Patient.id == bindparam("id", type_=String)), PatientIdRow
)
_now = bindparam("now", type_=TIMESTAMP(timezone=True))
_due_amount = (
    select(func.coalesce(func.sum(LedgerEntry.amount), 0))
    .where(LedgerEntry.invoice_id == Invoice.id, LedgerEntry.account == "receivable")
    .scalar_subquery()
)
_AUTOPAY_DUE = Query(
    select(
        Invoice.id,
        Patient.id.label("patient_id"),
        Invoice.number,
        Invoice.autopay_attempts,
        _due_amount.label("amount_due"),
        Patient.email,
    )
    .join(Patient, Patient.id == Invoice.patient_id)
    .join(
        ProcessorCustomer,
        and_(ProcessorCustomer.patient_id == Invoice.patient_id, ProcessorCustomer.autopay),
    )
    .where(
        Invoice.status == "open",
        or_(Invoice.autopay_next_at.is_(None), Invoice.autopay_next_at <= _now),
        Invoice.autopay_attempts < bindparam("max_attempts", type_=Integer),
        _due_amount > 0,
        exists().where(
            PaymentMethod.patient_id == Invoice.patient_id,
            PaymentMethod.is_default,
            PaymentMethod.removed_at.is_(None),
        ),
        ~exists()
        .where(PaymentAllocation.invoice_id == Invoice.id)
        .where(Payment.id == PaymentAllocation.payment_id)
        .where(or_(*(Payment.status == status for status in UNDER_WAY))),
    )
    .order_by(Invoice.id)
    .limit(bindparam("limit", type_=Integer)),
    DueRow,
)
_AUTOPAY_TRIED = Query(
    update(cast(Table, Invoice.__table__))
    .where(Invoice.id == _ID)
    .values(
        autopay_attempts=bindparam("attempts", type_=Integer),
        autopay_next_at=bindparam("next_at", type_=TIMESTAMP(timezone=True)),
    ),
    NoRow,
)
_patient = bindparam("patient", type_=String)
_LISTED = select(*_PAYMENT_COLUMNS).where(or_(_patient.is_(None), Payment.patient_id == _patient))
_PAGE = Query(
    _LISTED.order_by(Payment.id.desc()).offset(bindparam("offset")).limit(bindparam("limit")),
    PaymentRow,
)
_COUNT = Counting(select(Payment.id).where(or_(_patient.is_(None), Payment.patient_id == _patient)))
_DISPUTED_PAGE = Query(
    select(*_PAYMENT_COLUMNS)
    .where(Payment.disputed_at.is_not(None))
    .order_by(Payment.disputed_at.desc(), Payment.id.desc())
    .offset(bindparam("offset"))
    .limit(bindparam("limit")),
    PaymentRow,
)
_DISPUTED_COUNT = Counting(select(Payment.id).where(Payment.disputed_at.is_not(None)))


class PaymentRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def get(self, payment_id: int) -> PaymentRow | None:
        return await self.executor.fetch_one(_GET, id=payment_id)

    async def lock(self, payment_id: int) -> PaymentRow | None:
        return await self.executor.fetch_one(_LOCK, id=payment_id)

    async def by_intent(self, intent_id: str) -> PaymentRow | None:
        return await self.executor.fetch_one(_BY_INTENT, intent=intent_id)

    async def insert(self, **values: Any) -> PaymentRow:
        defaults = {"payment_method_id": None, "processor_intent_id": None, "reference": None}
        row = await self.executor.fetch_one(_INSERT, **{**defaults, **values})
        assert row is not None
        return row

    async def allocate(self, payment_id: int, shares: Sequence[tuple[int, Decimal]]) -> None:
        await self.executor.fetch(
            _ALLOCATE,
            id=payment_id,
            ids=[invoice for invoice, _ in shares],
            amounts=[amount for _, amount in shares],
        )

    async def allocations(self, payment_ids: Sequence[int]) -> list[AllocationRow]:
        return await self.executor.fetch(_ALLOCATIONS, ids=list(payment_ids))

    async def under_way(self, invoice_ids: Sequence[int]) -> list[AllocationRow]:
        return await self.executor.fetch(_UNDER_WAY, ids=list(invoice_ids))

    async def outcome(
        self,
        payment_id: int,
        status: str,
        *,
        intent: str | None = None,
        failure_message: str | None = None,
        event_at: datetime | None = None,
    ) -> PaymentRow:
        row = await self.executor.fetch_one(
            _OUTCOME,
            id=payment_id,
            status=status,
            intent=intent,
            failure_message=failure_message,
            event_at=event_at,
        )
        assert row is not None
        return row

    async def disputed(self, payment_id: int, dispute_status: str) -> PaymentRow | None:
        return await self.executor.fetch_one(
            _DISPUTED, id=payment_id, dispute_status=dispute_status
        )

    async def refunded(self, payment_id: int, amount: Decimal) -> PaymentRow | None:
        """Count `amount` as refunded, unless it would pass what was paid."""
        return await self.executor.fetch_one(_REFUNDED, id=payment_id, amount=amount)

    async def insert_refund(self, **values: Any) -> RefundRow:
        row = await self.executor.fetch_one(_INSERT_REFUND, **values)
        assert row is not None
        return row

    async def refund_by_processor_id(self, refund_id: str) -> RefundRow | None:
        return await self.executor.fetch_one(_REFUND_BY_PROCESSOR_ID, refund=refund_id)

    async def card(self, patient_id: str, card_id: int | None) -> CardRow | None:
        return await self.executor.fetch_one(_CARD, patient_id=patient_id, card_id=card_id)

    async def change_wallet(
        self, patient_id: str, amount: Decimal, reason: str, *, actor: str, actor_kind: str
    ) -> Decimal | None:
        """The wallet's balance after adding `amount`; None when it would leave its range."""
        row = await self.executor.fetch_one(
            _WALLET_CHANGE,
            id=patient_id,
            amount=amount,
            reason=reason,
            actor=actor,
            actor_kind=actor_kind,
        )
        return None if row is None else row["wallet_balance"]

    async def autopay_due(self, now: datetime, *, max_attempts: int, limit: int) -> list[DueRow]:
        return await self.executor.fetch(
            _AUTOPAY_DUE, now=now, max_attempts=max_attempts, limit=limit
        )

    async def autopay_tried(self, invoice_id: int, *, attempts: int, next_at: datetime) -> None:
        await self.executor.fetch(_AUTOPAY_TRIED, id=invoice_id, attempts=attempts, next_at=next_at)

    async def patient_known(self, patient_id: str) -> bool:
        """Whether the patient is there, deleted or not (their money is kept either way)."""
        return await self.executor.fetch_one(_KNOWN_PATIENT, id=patient_id) is not None

    async def record_event(
        self, event_id: str, event_type: str, created: datetime, outcome: str
    ) -> bool:
        """Record a processor event by its id; False when it was recorded before (a replay)."""
        row = await self.executor.fetch_one(
            _RECORD_EVENT, event_id=event_id, type=event_type, created=created, outcome=outcome
        )
        return row is not None

    async def page(self, patient: str | None, *, offset: int, limit: int) -> list[PaymentRow]:
        return await self.executor.fetch(_PAGE, patient=patient, offset=offset, limit=limit)

    async def count(self, patient: str | None, *, exact_up_to: int | None) -> Count:
        return await _COUNT.count(self.executor, {"patient": patient}, exact_up_to=exact_up_to)

    async def disputed_page(self, *, offset: int, limit: int) -> list[PaymentRow]:
        """The payments a dispute was opened on, the latest dispute first."""
        return await self.executor.fetch(_DISPUTED_PAGE, offset=offset, limit=limit)

    async def disputed_count(self, *, exact_up_to: int | None) -> Count:
        return await _DISPUTED_COUNT.count(self.executor, {}, exact_up_to=exact_up_to)

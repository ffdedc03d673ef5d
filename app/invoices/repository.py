"""The SQL of invoices. An invoice's number is taken from its year's counter in the transaction
that issues it, after the invoice is locked and found a draft: a number is never taken for an
issue that does not happen, and a rollback gives it back, so numbers have no gap."""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, TypedDict, cast

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Date,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.db.counting import Count, Counting
from app.db.query import Executor, NoRow, Query
from app.invoices.schemas import (
    InvoicePaymentRow,
    InvoiceRow,
    LineRow,
    NumberedRow,
    ServicePriceRow,
)
from app.models.invoices import Invoice, InvoiceCounter, InvoiceLine
from app.models.ledger import LedgerEntry
from app.models.patient import VERSION_SEQUENCE
from app.models.payments import BillableService, Payment, PaymentAllocation, SlidingScale

INVOICES = cast(Table, Invoice.__table__)
LINES = cast(Table, InvoiceLine.__table__)
COUNTERS = cast(Table, InvoiceCounter.__table__)

AMOUNT_DUE = (
    select(func.coalesce(func.sum(LedgerEntry.amount), 0))
    .where(LedgerEntry.invoice_id == Invoice.id, LedgerEntry.account == "receivable")
    .scalar_subquery()
    .label("amount_due")
)
AMOUNT_PAID = (
    select(func.coalesce(func.sum(PaymentAllocation.amount), 0))
    .join(Payment, Payment.id == PaymentAllocation.payment_id)
    .where(PaymentAllocation.invoice_id == Invoice.id, Payment.status == "succeeded")
    .scalar_subquery()
    .label("amount_paid")
)
COLUMNS = (
    Invoice.id,
    Invoice.patient_id,
    Invoice.kind,
    Invoice.status,
    Invoice.appointment_id,
    Invoice.number,
    Invoice.currency,
    Invoice.total,
    Invoice.memo,
    Invoice.due_date,
    Invoice.issued_at,
    Invoice.paid_at,
    Invoice.closed_at,
    Invoice.created_by,
    Invoice.version,
    Invoice.created_at,
    Invoice.updated_at,
    AMOUNT_DUE,
    AMOUNT_PAID,
)
_ID = bindparam("id", type_=BigInteger)
_VERSIONS = bindparam("versions", type_=ARRAY(BigInteger))
_CONDITION = or_(_VERSIONS.is_(None), Invoice.version == func.any(_VERSIONS))


class IdRow(TypedDict):
    id: int


class PercentRow(TypedDict):
    percent: int


def _returning(statement: Any) -> Query[IdRow]:
    """The id of the invoice a write changed; read again after it, as a statement's own
    subqueries would see the invoice as it was before the write."""
    return Query(statement.returning(Invoice.id), IdRow)


_GET = Query(select(*COLUMNS).where(Invoice.id == _ID), InvoiceRow)
_LOCK = Query(select(*COLUMNS).where(Invoice.id == _ID).with_for_update(of=Invoice), InvoiceRow)
_LOCK_MANY = Query(
    select(*COLUMNS)
    .where(Invoice.id == func.any(bindparam("ids", type_=ARRAY(BigInteger))))
    .order_by(Invoice.id)
    .with_for_update(of=Invoice),
    InvoiceRow,
)
_FOR_APPOINTMENT = Query(
    select(*COLUMNS).where(
        Invoice.appointment_id == bindparam("appointment_id", type_=BigInteger),
        Invoice.kind == bindparam("kind", type_=String),
        Invoice.status != "void",
    ),
    InvoiceRow,
)
_LINES = Query(
    select(
        InvoiceLine.invoice_id,
        InvoiceLine.position,
        InvoiceLine.description,
        InvoiceLine.service_id,
        InvoiceLine.service_code,
        InvoiceLine.date_of_service,
        InvoiceLine.therapist_id,
        InvoiceLine.quantity,
        InvoiceLine.unit_price,
        InvoiceLine.amount,
    )
    .where(InvoiceLine.invoice_id == func.any(bindparam("ids", type_=ARRAY(BigInteger))))
    .order_by(InvoiceLine.invoice_id, InvoiceLine.position),
    LineRow,
)
_PAYMENTS = Query(
    select(
        PaymentAllocation.invoice_id,
        Payment.id.label("payment_id"),
        Payment.method,
        Payment.status,
        PaymentAllocation.amount,
        Payment.created_at,
        Payment.succeeded_at,
    )
    .join(Payment, Payment.id == PaymentAllocation.payment_id)
    .where(PaymentAllocation.invoice_id == func.any(bindparam("ids", type_=ARRAY(BigInteger))))
    .order_by(PaymentAllocation.invoice_id, Payment.id),
    InvoicePaymentRow,
)
_INSERT = Query(
    insert(INVOICES)
    .values(
        patient_id=bindparam("patient_id", type_=String),
        kind=bindparam("kind", type_=String),
        status="draft",
        appointment_id=bindparam("appointment_id", type_=BigInteger),
        currency=bindparam("currency", type_=String),
        total=bindparam("total", type_=Numeric(12, 2)),
        memo=bindparam("memo", type_=String),
        due_date=bindparam("due_date", type_=Date),
        created_by=bindparam("created_by", type_=String),
    )
    .returning(Invoice.id),
    IdRow,
)
_lines = func.unnest(
    bindparam("positions", type_=ARRAY(SmallInteger)),
    bindparam("descriptions", type_=ARRAY(String)),
    bindparam("services", type_=ARRAY(BigInteger)),
    bindparam("codes", type_=ARRAY(String)),
    bindparam("dates", type_=ARRAY(Date)),
    bindparam("therapists", type_=ARRAY(Integer)),
    bindparam("quantities", type_=ARRAY(SmallInteger)),
    bindparam("prices", type_=ARRAY(Numeric(12, 2))),
).table_valued(
    "position", "description", "service_id", "service_code", "date_of_service", "therapist_id",
    "quantity", "unit_price",
).render_derived("line")  # fmt: skip
_INSERT_LINES = Query(
    insert(LINES).from_select(
        [
            "invoice_id",
            "position",
            "description",
            "service_id",
            "service_code",
            "date_of_service",
            "therapist_id",
            "quantity",
            "unit_price",
            "amount",
        ],
        select(
            _ID,
            _lines.c.position,
            _lines.c.description,
            _lines.c.service_id,
            _lines.c.service_code,
            _lines.c.date_of_service,
            _lines.c.therapist_id,
            _lines.c.quantity,
            _lines.c.unit_price,
            _lines.c.quantity * _lines.c.unit_price,
        ),
    ),
    NoRow,
)
_DELETE_LINES = Query(delete(LINES).where(InvoiceLine.invoice_id == _ID), NoRow)
_NEW_VERSION = {"version": VERSION_SEQUENCE.next_value(), "updated_at": func.now()}
_UPDATE_DRAFT = _returning(
    update(INVOICES)
    .where(Invoice.id == _ID, Invoice.status == "draft", _CONDITION)
    .values(
        total=bindparam("total", type_=Numeric(12, 2)),
        memo=bindparam("memo", type_=String),
        due_date=bindparam("due_date", type_=Date),
        **_NEW_VERSION,
    )
)
_DELETE_DRAFT = Query(
    delete(INVOICES)
    .where(Invoice.id == _ID, Invoice.status == "draft", _CONDITION)
    .returning(Invoice.id),
    IdRow,
)
_year = bindparam("year", type_=SmallInteger)
_taken = pg_insert(COUNTERS).values(year=_year, last_sequence=1)
_NEXT_NUMBER = Query(
    _taken.on_conflict_do_update(
        index_elements=[COUNTERS.c.year],
        set_={"last_sequence": COUNTERS.c.last_sequence + 1},
    ).returning(COUNTERS.c.year, COUNTERS.c.last_sequence),
    NumberedRow,
)
_ISSUE = _returning(
    update(INVOICES)
    .where(Invoice.id == _ID, Invoice.status == "draft")
    .values(
        status=bindparam("status", type_=String),
        year=_year,
        sequence=bindparam("sequence", type_=Integer),
        number=bindparam("number", type_=String),
        issued_at=func.now(),
        paid_at=case((bindparam("status", type_=String) == "paid", func.now())),
        **_NEW_VERSION,
    )
)
_MOVE = _returning(
    update(INVOICES)
    .where(
        Invoice.id == _ID,
        Invoice.status == bindparam("from_status", type_=String),
        _CONDITION,
    )
    .values(
        status=bindparam("to_status", type_=String),
        paid_at=func.coalesce(
            Invoice.paid_at,
            select(func.now())
            .where(bindparam("to_status", type_=String) == "paid")
            .scalar_subquery(),
        ),
        closed_at=func.coalesce(
            Invoice.closed_at,
            select(func.now())
            .where(
                or_(
                    bindparam("to_status", type_=String) == "void",
                    bindparam("to_status", type_=String) == "uncollectible",
                )
            )
            .scalar_subquery(),
        ),
        **_NEW_VERSION,
    )
)
_SERVICES_KEPT = select(
    BillableService.id, BillableService.code, BillableService.name, BillableService.price
).where(BillableService.id == func.any(bindparam("ids", type_=ARRAY(BigInteger))))
# Every open invoice of these that the ledger says nothing is due on becomes paid.
_SETTLE = Query(
    update(INVOICES)
    .where(
        Invoice.id == func.any(bindparam("ids", type_=ARRAY(BigInteger))),
        Invoice.status == "open",
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .where(LedgerEntry.invoice_id == Invoice.id, LedgerEntry.account == "receivable")
        .scalar_subquery()
        == 0,
    )
    .values(status="paid", paid_at=func.now(), **_NEW_VERSION),
    NoRow,
)
_SERVICES = Query(_SERVICES_KEPT.where(BillableService.deleted_at.is_(None)), ServicePriceRow)
# A deleted service is kept for the appointments that still name it: their sessions are billed.
_SERVICES_WITH_DELETED = Query(_SERVICES_KEPT, ServicePriceRow)
_SCALE = Query(
    select(SlidingScale.percent).where(SlidingScale.patient_id == bindparam("patient_id")),
    PercentRow,
)

_patient = bindparam("patient", type_=String)
_status = bindparam("status", type_=String)
_year_filter = bindparam("year", type_=SmallInteger)
_FILTERS = and_(
    or_(_patient.is_(None), Invoice.patient_id == _patient),
    or_(_status.is_(None), Invoice.status == _status),
    or_(_year_filter.is_(None), Invoice.year == _year_filter),
    or_(bindparam("drafts", type_=Boolean), Invoice.status != "draft"),
)
_LISTED = select(*COLUMNS).where(_FILTERS)
_PAGE = Query(
    _LISTED.order_by(Invoice.id.desc()).offset(bindparam("offset")).limit(bindparam("limit")),
    InvoiceRow,
)
_COUNT = Counting(select(Invoice.id).where(_FILTERS))


class Line(dict[str, Any]):
    """A line to write: position, description, service_id, service_code, date_of_service,
    therapist_id, quantity, unit_price."""


class InvoiceRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def get(self, invoice_id: int) -> InvoiceRow | None:
        return await self.executor.fetch_one(_GET, id=invoice_id)

    async def lock(self, invoice_id: int) -> InvoiceRow | None:
        """The invoice, locked until the transaction ends."""
        return await self.executor.fetch_one(_LOCK, id=invoice_id)

    async def lock_many(self, invoice_ids: Sequence[int]) -> list[InvoiceRow]:
        """The invoices, locked in id order (so two payments never deadlock)."""
        return await self.executor.fetch(_LOCK_MANY, ids=list(invoice_ids))

    async def for_appointment(self, appointment_id: int, kind: str) -> InvoiceRow | None:
        return await self.executor.fetch_one(
            _FOR_APPOINTMENT, appointment_id=appointment_id, kind=kind
        )

    async def lines(self, invoice_ids: Sequence[int]) -> list[LineRow]:
        return await self.executor.fetch(_LINES, ids=list(invoice_ids))

    async def payments(self, invoice_ids: Sequence[int]) -> list[InvoicePaymentRow]:
        return await self.executor.fetch(_PAYMENTS, ids=list(invoice_ids))

    async def insert(
        self,
        *,
        patient_id: str,
        kind: str,
        appointment_id: int | None,
        currency: str,
        memo: str | None,
        due_date: date | None,
        created_by: str,
        lines: Sequence[Line],
    ) -> int:
        """A draft with its lines; its id."""
        row = await self.executor.fetch_one(
            _INSERT,
            patient_id=patient_id,
            kind=kind,
            appointment_id=appointment_id,
            currency=currency,
            total=_total(lines),
            memo=memo,
            due_date=due_date,
            created_by=created_by,
        )
        assert row is not None
        await self._write_lines(row["id"], lines)
        return int(row["id"])

    async def update_draft(
        self,
        invoice_id: int,
        *,
        lines: Sequence[Line],
        memo: str | None,
        due_date: date | None,
        versions: Any,
    ) -> InvoiceRow | None:
        await self.executor.fetch(_DELETE_LINES, id=invoice_id)
        await self._write_lines(invoice_id, lines)
        changed = await self.executor.fetch_one(
            _UPDATE_DRAFT,
            id=invoice_id,
            total=_total(lines),
            memo=memo,
            due_date=due_date,
            versions=_versions(versions),
        )
        return None if changed is None else await self.get(invoice_id)

    async def delete_draft(self, invoice_id: int, versions: Any) -> bool:
        row = await self.executor.fetch_one(
            _DELETE_DRAFT, id=invoice_id, versions=_versions(versions)
        )
        return row is not None

    async def next_number(self, year: int) -> NumberedRow:
        """Take the year's next number; its row stays locked until the transaction ends."""
        row = await self.executor.fetch_one(_NEXT_NUMBER, year=year)
        assert row is not None
        return row

    async def issue(self, invoice_id: int, *, status: str, year: int, sequence: int) -> str | None:
        """Number a draft and give it `status`: its number; None when it is not a draft."""
        number = f"{year}-{sequence:06d}"
        issued = await self.executor.fetch_one(
            _ISSUE, id=invoice_id, status=status, year=year, sequence=sequence, number=number
        )
        return None if issued is None else number

    async def move(
        self, invoice_id: int, from_status: str, to_status: str, versions: Any = None
    ) -> InvoiceRow | None:
        """Change the status, if it is `from_status` (and the version matches)."""
        moved = await self.executor.fetch_one(
            _MOVE,
            id=invoice_id,
            from_status=from_status,
            to_status=to_status,
            versions=_versions(versions),
        )
        return None if moved is None else await self.get(invoice_id)

    async def settle(self, invoice_ids: Sequence[int]) -> None:
        """Mark paid those of the open invoices that nothing is due on any more."""
        await self.executor.fetch(_SETTLE, ids=list(invoice_ids))

    async def services(
        self, service_ids: Sequence[int], *, with_deleted: bool = False
    ) -> dict[int, ServicePriceRow]:
        query = _SERVICES_WITH_DELETED if with_deleted else _SERVICES
        rows = await self.executor.fetch(query, ids=list(service_ids))
        return {row["id"]: row for row in rows}

    async def scale(self, patient_id: str) -> int | None:
        row = await self.executor.fetch_one(_SCALE, patient_id=patient_id)
        return None if row is None else int(row["percent"])

    async def page(self, filters: dict[str, Any], *, offset: int, limit: int) -> list[InvoiceRow]:
        return await self.executor.fetch(_PAGE, **filters, offset=offset, limit=limit)

    async def count(self, filters: dict[str, Any], *, exact_up_to: int | None) -> Count:
        return await _COUNT.count(self.executor, filters, exact_up_to=exact_up_to)

    async def _write_lines(self, invoice_id: int, lines: Sequence[Line]) -> None:
        await self.executor.fetch(
            _INSERT_LINES,
            id=invoice_id,
            positions=[line["position"] for line in lines],
            descriptions=[line["description"] for line in lines],
            services=[line["service_id"] for line in lines],
            codes=[line["service_code"] for line in lines],
            dates=[line["date_of_service"] for line in lines],
            therapists=[line["therapist_id"] for line in lines],
            quantities=[line["quantity"] for line in lines],
            prices=[line["unit_price"] for line in lines],
        )


def _total(lines: Sequence[Line]) -> Decimal:
    return sum((line["quantity"] * line["unit_price"] for line in lines), Decimal(0))


def _versions(versions: Any) -> list[int] | None:
    return None if versions is None else list(versions)

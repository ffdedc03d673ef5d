"""The SQL of statements and superbills: sums over the ledger, the invoices and the payments of
one patient and one period, and the patient's diagnosis codes (encrypted at rest). A period's
bounds are instants (the clinic's midnights), [start_at, end_at); dates of service are days."""

from datetime import date, datetime
from typing import cast

from sqlalchemy import (
    Date,
    Numeric,
    String,
    Table,
    and_,
    bindparam,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import aliased

from app.db.query import Executor, Query
from app.models.invoices import Invoice, InvoiceLine
from app.models.ledger import LedgerEntry
from app.models.patient import Patient
from app.models.payments import PatientDiagnoses, Payment, PaymentAllocation, Refund
from app.models.staff import Staff
from app.statements.schemas import (
    BalancesRow,
    DiagnosesRow,
    StatementInvoiceRow,
    StatementPatientRow,
    StatementPaymentRow,
    StatementRefundRow,
    SuperbillLineRow,
    SuperbillPatientRow,
)

DIAGNOSES = cast(Table, PatientDiagnoses.__table__)
_PATIENT = bindparam("patient_id", type_=String)
_START = bindparam("start_at", type_=TIMESTAMP(timezone=True))
_END = bindparam("end_at", type_=TIMESTAMP(timezone=True))
_KEPT = (Patient.id == _PATIENT, Patient.deleted_at.is_(None))
_ISSUED = Invoice.status != "draft"
_BILLED = and_(_ISSUED, Invoice.status != "void")
ZERO = literal(0, Numeric(12, 2))

_GET_DIAGNOSES = Query(
    select(DIAGNOSES.c.codes)
    .select_from(Patient)
    .outerjoin(DIAGNOSES, DIAGNOSES.c.patient_id == Patient.id)
    .where(*_KEPT),
    DiagnosesRow,
)
# Set or replaced in one statement; a patient who is not there (or deleted) gets no row.
_written = pg_insert(DIAGNOSES).from_select(
    ["patient_id", "codes", "updated_by"],
    select(
        Patient.id,
        bindparam("codes", type_=DIAGNOSES.c.codes.type),
        bindparam("updated_by", type_=DIAGNOSES.c.updated_by.type),
    ).where(*_KEPT),
)
_SET_DIAGNOSES = Query(
    _written.on_conflict_do_update(
        index_elements=[DIAGNOSES.c.patient_id],
        set_={
            "codes": _written.excluded.codes,
            "updated_by": _written.excluded.updated_by,
            "updated_at": func.now(),
        },
    ).returning(DIAGNOSES.c.codes),
    DiagnosesRow,
)

_STATEMENT_PATIENT = Query(
    select(Patient.id, Patient.first_name, Patient.last_name).where(*_KEPT), StatementPatientRow
)
_SUPERBILL_PATIENT = Query(
    select(
        Patient.id,
        Patient.first_name,
        Patient.last_name,
        Patient.date_of_birth,
        Patient.address,
        DIAGNOSES.c.codes,
    )
    .outerjoin(DIAGNOSES, DIAGNOSES.c.patient_id == Patient.id)
    .where(*_KEPT),
    SuperbillPatientRow,
)

_RECEIVABLE = and_(LedgerEntry.patient_id == _PATIENT, LedgerEntry.account == "receivable")
_BALANCES = Query(
    select(
        func.coalesce(func.sum(LedgerEntry.amount).filter(LedgerEntry.created_at < _START), ZERO)
        .label("opening"),
        func.coalesce(func.sum(LedgerEntry.amount).filter(LedgerEntry.created_at < _END), ZERO)
        .label("closing"),
    ).where(_RECEIVABLE),
    BalancesRow,
)  # fmt: skip

# An invoice as it stood when the period ended: paid by payments that had succeeded, owed by
# the receivable entries posted, before then.
_paid_by_end = (
    select(func.coalesce(func.sum(PaymentAllocation.amount), ZERO))
    .join(Payment, Payment.id == PaymentAllocation.payment_id)
    .where(
        PaymentAllocation.invoice_id == Invoice.id,
        Payment.status == "succeeded",
        Payment.succeeded_at < _END,
    )
    .scalar_subquery()
)
_due_by_end = (
    select(func.coalesce(func.sum(LedgerEntry.amount), ZERO))
    .where(
        LedgerEntry.invoice_id == Invoice.id,
        LedgerEntry.account == "receivable",
        LedgerEntry.created_at < _END,
    )
    .scalar_subquery()
)
_INVOICES = Query(
    select(
        Invoice.id,
        Invoice.number,
        Invoice.issued_at,
        Invoice.status,
        Invoice.total,
        _paid_by_end.label("amount_paid"),
        _due_by_end.label("amount_due"),
    )
    .where(
        Invoice.patient_id == _PATIENT,
        _ISSUED,
        Invoice.issued_at >= _START,
        Invoice.issued_at < _END,
    )
    .order_by(Invoice.issued_at, Invoice.id),
    StatementInvoiceRow,
)
_numbers = (
    select(func.coalesce(func.array_agg(Invoice.number), literal([], ARRAY(String))))
    .select_from(PaymentAllocation)
    .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
    .where(PaymentAllocation.payment_id == Payment.id)
    .scalar_subquery()
)
_PAYMENTS = Query(
    select(
        Payment.id,
        Payment.succeeded_at.label("received_at"),
        Payment.method,
        Payment.amount,
        _numbers.label("invoices"),
    )
    .where(
        Payment.patient_id == _PATIENT,
        Payment.purpose == "invoices",
        Payment.status == "succeeded",
        Payment.succeeded_at >= _START,
        Payment.succeeded_at < _END,
    )
    .order_by(Payment.succeeded_at, Payment.id),
    StatementPaymentRow,
)
_REFUNDS = Query(
    select(Refund.id, Refund.created_at, Refund.amount, Refund.payment_id.label("payment"))
    .join(Payment, Payment.id == Refund.payment_id)
    .where(
        Payment.patient_id == _PATIENT,
        Payment.purpose == "invoices",
        Refund.status == "succeeded",
        Refund.created_at >= _START,
        Refund.created_at < _END,
    )
    .order_by(Refund.created_at, Refund.id),
    StatementRefundRow,
)

_earlier = aliased(InvoiceLine)
_through = (
    select(func.sum(_earlier.amount))
    .where(_earlier.invoice_id == InvoiceLine.invoice_id, _earlier.position <= InvoiceLine.position)
    .scalar_subquery()
)
# What was paid on an invoice net of refunds, as an insurer reimburses: a payment's refunds
# are shared among its invoices as it was.
_paid = (
    select(
        func.coalesce(
            func.sum(
                func.round(
                    PaymentAllocation.amount
                    * (Payment.amount - Payment.amount_refunded)
                    / Payment.amount,
                    2,
                )
            ),
            ZERO,
        )
    )
    .select_from(PaymentAllocation)
    .join(Payment, Payment.id == PaymentAllocation.payment_id)
    .where(PaymentAllocation.invoice_id == Invoice.id, Payment.status == "succeeded")
    .scalar_subquery()
)
_SESSION_LINES = Query(
    select(
        InvoiceLine.invoice_id,
        InvoiceLine.date_of_service,
        func.coalesce(InvoiceLine.service_code, "").label("service_code"),
        InvoiceLine.description,
        func.coalesce(Staff.display_name, Staff.username, "").label("therapist_name"),
        Staff.npi.label("therapist_npi"),
        InvoiceLine.amount,
        _through.label("amount_through"),
        Invoice.total.label("invoice_total"),
        _paid.label("invoice_paid"),
    )
    .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
    .outerjoin(Staff, Staff.id == InvoiceLine.therapist_id)
    .where(
        Invoice.patient_id == _PATIENT,
        Invoice.kind == "session",
        _BILLED,
        InvoiceLine.date_of_service >= bindparam("start", type_=Date),
        InvoiceLine.date_of_service <= bindparam("end", type_=Date),
    )
    .order_by(InvoiceLine.date_of_service, InvoiceLine.invoice_id, InvoiceLine.position),
    SuperbillLineRow,
)


class StatementRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def diagnoses(self, patient_id: str) -> DiagnosesRow | None:
        """The patient's codes (None when none were set); no row when the patient is not there."""
        return await self.executor.fetch_one(_GET_DIAGNOSES, patient_id=patient_id)

    async def set_diagnoses(self, patient_id: str, codes: str, by: str) -> DiagnosesRow | None:
        """The codes set or replaced; None when the patient is not there."""
        return await self.executor.fetch_one(
            _SET_DIAGNOSES, patient_id=patient_id, codes=codes, updated_by=by
        )

    async def statement_patient(self, patient_id: str) -> StatementPatientRow | None:
        return await self.executor.fetch_one(_STATEMENT_PATIENT, patient_id=patient_id)

    async def superbill_patient(self, patient_id: str) -> SuperbillPatientRow | None:
        return await self.executor.fetch_one(_SUPERBILL_PATIENT, patient_id=patient_id)

    async def balances(self, patient_id: str, start_at: datetime, end_at: datetime) -> BalancesRow:
        found = await self.executor.fetch_one(
            _BALANCES, patient_id=patient_id, start_at=start_at, end_at=end_at
        )
        assert found is not None  # an aggregate always answers one row
        return found

    async def invoices(
        self, patient_id: str, start_at: datetime, end_at: datetime
    ) -> list[StatementInvoiceRow]:
        """The invoices issued in the period (voids included), as they stood at its end."""
        return await self.executor.fetch(
            _INVOICES, patient_id=patient_id, start_at=start_at, end_at=end_at
        )

    async def payments(
        self, patient_id: str, start_at: datetime, end_at: datetime
    ) -> list[StatementPaymentRow]:
        """The payments of invoices that succeeded in the period (wallet top-ups are not)."""
        return await self.executor.fetch(
            _PAYMENTS, patient_id=patient_id, start_at=start_at, end_at=end_at
        )

    async def refunds(
        self, patient_id: str, start_at: datetime, end_at: datetime
    ) -> list[StatementRefundRow]:
        """The refunds of those payments made in the period."""
        return await self.executor.fetch(
            _REFUNDS, patient_id=patient_id, start_at=start_at, end_at=end_at
        )

    async def session_lines(
        self, patient_id: str, start: date, end: date
    ) -> list[SuperbillLineRow]:
        """The lines of the patient's issued session invoices (not void) whose date of service
        is in [start, end]."""
        return await self.executor.fetch(
            _SESSION_LINES, patient_id=patient_id, start=start, end=end
        )

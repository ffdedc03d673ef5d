"""Invoices, as Stripe models them: `draft` (no number yet), `open` (issued: numbered, and owed
in the ledger), `paid`, `void` and `uncollectible`. Numbers run per year with no gap and no
duplicate: each is taken from `invoice_counters` in the transaction that issues the invoice, so
a rolled-back issue gives its number back, and (year, sequence) is unique."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin
from app.models.ledger import MEMO_MAX_LENGTH
from app.models.patient import VERSION_SEQUENCE

InvoiceStatus = Literal["draft", "open", "paid", "void", "uncollectible"]
INVOICE_STATUSES: tuple[InvoiceStatus, ...] = ("draft", "open", "paid", "void", "uncollectible")
InvoiceKind = Literal["session", "noshow_fee", "late_cancellation_fee", "manual"]
INVOICE_KINDS: tuple[InvoiceKind, ...] = (
    "session",
    "noshow_fee",
    "late_cancellation_fee",
    "manual",
)
LINE_DESCRIPTION_MAX_LENGTH = 200
LINES_MAX = 50
QUANTITY_MAX = 100


class InvoiceCounter(Base):
    """The last number issued in a year; its row lock orders concurrent issues."""

    __tablename__ = "invoice_counters"

    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    last_sequence: Mapped[int] = mapped_column(Integer)


class Invoice(TimestampMixin, Base):
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    patient_id: Mapped[str | None] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16))
    # An appointment is billed once for a session, once for a fee.
    appointment_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("appointments.id", ondelete="SET NULL")
    )
    year: Mapped[int | None] = mapped_column(SmallInteger)
    sequence: Mapped[int | None] = mapped_column(Integer)
    number: Mapped[str | None] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    memo: Mapped[str | None] = mapped_column(String(MEMO_MAX_LENGTH))
    due_date: Mapped[date | None] = mapped_column(Date)
    issued_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    created_by: Mapped[str] = mapped_column(String(160))
    # Autopay: how many charges were tried, and when the next may be.
    autopay_attempts: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    autopay_next_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    version: Mapped[int] = mapped_column(BigInteger, server_default=VERSION_SEQUENCE.next_value())

    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'open', 'paid', 'void', 'uncollectible')", name="status_choice"
        ),
        CheckConstraint(
            "kind IN ('session', 'noshow_fee', 'late_cancellation_fee', 'manual')",
            name="kind_choice",
        ),
        CheckConstraint(
            "(status = 'draft') = (number IS NULL)"
            " AND (number IS NULL) = (year IS NULL)"
            " AND (number IS NULL) = (sequence IS NULL)"
            " AND (number IS NULL) = (issued_at IS NULL)",
            name="numbered_when_issued",
        ),
        CheckConstraint("total >= 0", name="total_not_negative"),
        Index("uq_invoices_year_sequence", "year", "sequence", unique=True),
        Index("uq_invoices_number", "number", unique=True),
        Index(
            "uq_invoices_appointment_id_kind",
            "appointment_id",
            "kind",
            unique=True,
            postgresql_where=text("appointment_id IS NOT NULL AND status <> 'void'"),
        ),
        Index("ix_invoices_patient_id_id", "patient_id", "id"),
        Index("ix_invoices_status_id", "status", "id"),
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("invoices.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(SmallInteger)
    description: Mapped[str] = mapped_column(String(LINE_DESCRIPTION_MAX_LENGTH))
    service_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("billable_services.id", ondelete="RESTRICT")
    )
    service_code: Mapped[str | None] = mapped_column(String(16))
    date_of_service: Mapped[date | None] = mapped_column(Date)
    therapist_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("staff.id", ondelete="SET NULL")
    )
    quantity: Mapped[int] = mapped_column(SmallInteger)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))

    __table_args__ = (
        CheckConstraint(f"quantity BETWEEN 1 AND {QUANTITY_MAX}", name="quantity_range"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        CheckConstraint("amount = quantity * unit_price", name="amount_is_quantity_times_price"),
        Index("uq_invoice_lines_invoice_id_position", "invoice_id", "position", unique=True),
    )

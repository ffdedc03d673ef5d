"""What the practice bills: its billable services (a code such as CPT 90834, a name, a duration
and a price, in the one CURRENCY of the settings), kept by admins; and each patient's sliding
scale, the share of a service's price they pay."""

import re
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin
from app.db.types import EncryptedText
from app.models.patient import WALLET_MAX

CODE_MAX_LENGTH = 16
CODE_RE = re.compile(rf"[A-Za-z0-9.-]{{1,{CODE_MAX_LENGTH}}}")
NAME_MAX_LENGTH = 100
DURATION_MIN, DURATION_MAX = 5, 480  # minutes
# A price is paid from the wallet, so it is never more than a wallet holds.
PRICE_MAX = WALLET_MAX
PERCENT_MIN, PERCENT_MAX = 1, 100
SCALE_REASON_MAX_LENGTH = 250


class BillableService(TimestampMixin, Base):
    __tablename__ = "billable_services"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_MAX_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    # Set by a DELETE: the service is gone from the API, and kept, since the invoices that name
    # it keep naming it. Its code is free for a new service.
    deleted_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        CheckConstraint(f"code ~ '^{CODE_RE.pattern}$'", name="code_format"),
        CheckConstraint(
            f"duration_minutes BETWEEN {DURATION_MIN} AND {DURATION_MAX}",
            name="duration_minutes_range",
        ),
        CheckConstraint(f"price BETWEEN 0 AND {PRICE_MAX}", name="price_range"),
        Index(
            "uq_billable_services_code",
            "code",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )


class SlidingScale(Base):
    """A patient's sliding scale: the percent of a service's price they pay (100 is the full
    price), set by staff with a reason. At most one per patient; none is the full price."""

    __tablename__ = "sliding_scales"

    patient_id: Mapped[str] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    percent: Mapped[int] = mapped_column(SmallInteger)
    reason: Mapped[str] = mapped_column(String(SCALE_REASON_MAX_LENGTH))
    set_by: Mapped[str] = mapped_column(String(160))
    set_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(f"percent BETWEEN {PERCENT_MIN} AND {PERCENT_MAX}", name="percent_range"),
    )


PaymentMethodKind = Literal["card", "wallet", "cash", "cheque", "bank_transfer"]
PAYMENT_METHOD_KINDS: tuple[PaymentMethodKind, ...] = (
    "card",
    "wallet",
    "cash",
    "cheque",
    "bank_transfer",
)
MANUAL_METHODS: tuple[PaymentMethodKind, ...] = ("cash", "cheque", "bank_transfer")
PaymentStatus = Literal["pending", "requires_action", "succeeded", "failed", "canceled"]
PAYMENT_STATUSES: tuple[PaymentStatus, ...] = (
    "pending",
    "requires_action",
    "succeeded",
    "failed",
    "canceled",
)
PaymentPurpose = Literal["invoices", "wallet_topup"]
REFERENCE_MAX_LENGTH = 100
CONSENT_TEXT_MAX_LENGTH = 2000


class ProcessorCustomer(Base):
    """A patient's customer at the processor, and whether they chose autopay."""

    __tablename__ = "processor_customers"

    patient_id: Mapped[str] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    autopay: Mapped[bool] = mapped_column(server_default=text("false"))
    autopay_changed_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    autopay_changed_by: Mapped[str | None] = mapped_column(String(160))


class CardSetup(Base):
    """A SetupIntent begun for a patient, with the consent to off-session charges it carries:
    who gave it, when, and the text they agreed to."""

    __tablename__ = "card_setups"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    patient_id: Mapped[str] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE")
    )
    setup_intent_id: Mapped[str] = mapped_column(String(255), unique=True)
    consent_text: Mapped[str] = mapped_column(String(CONSENT_TEXT_MAX_LENGTH))
    consent_by: Mapped[str] = mapped_column(String(160))
    consent_by_kind: Mapped[str] = mapped_column(String(16))
    consent_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    completed_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))


class PaymentMethod(Base):
    """A card on file: only the processor's ids, the brand, the last 4 digits and the expiry."""

    __tablename__ = "payment_methods"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    patient_id: Mapped[str] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE")
    )
    processor_id: Mapped[str] = mapped_column(String(255), unique=True)
    setup_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("card_setups.id", ondelete="SET NULL")
    )
    brand: Mapped[str] = mapped_column(String(32))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(SmallInteger)
    exp_year: Mapped[int] = mapped_column(SmallInteger)
    is_default: Mapped[bool] = mapped_column(server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    removed_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        CheckConstraint("last4 ~ '^[0-9]{4}$'", name="last4_digits"),
        CheckConstraint("exp_month BETWEEN 1 AND 12", name="exp_month_range"),
        Index(
            "uq_payment_methods_default",
            "patient_id",
            unique=True,
            postgresql_where=text("is_default AND removed_at IS NULL"),
        ),
        Index("ix_payment_methods_patient_id", "patient_id"),
    )


class Payment(TimestampMixin, Base):
    """Money received from a patient, for chosen invoices or their wallet. A card payment is
    written before the processor is asked, so its PaymentIntent's idempotency key is derived
    from this row, and at most one card payment is under way for an invoice."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    patient_id: Mapped[str | None] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="SET NULL")
    )
    purpose: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    amount_refunded: Mapped[Decimal] = mapped_column(Numeric(12, 2), server_default=text("0"))
    currency: Mapped[str] = mapped_column(String(3))
    payment_method_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("payment_methods.id", ondelete="SET NULL")
    )
    processor_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The creation time of the last processor event applied: an older one never moves it back.
    processor_event_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    reference: Mapped[str | None] = mapped_column(String(REFERENCE_MAX_LENGTH))
    failure_message: Mapped[str | None] = mapped_column(String(255))
    succeeded_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    disputed_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    dispute_status: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(160))
    created_by_kind: Mapped[str] = mapped_column(String(16))

    __table_args__ = (
        CheckConstraint("purpose IN ('invoices', 'wallet_topup')", name="purpose_choice"),
        CheckConstraint(
            "method IN ('card', 'wallet', 'cash', 'cheque', 'bank_transfer')",
            name="method_choice",
        ),
        CheckConstraint(
            "status IN ('pending', 'requires_action', 'succeeded', 'failed', 'canceled')",
            name="status_choice",
        ),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("amount_refunded BETWEEN 0 AND amount", name="refunded_not_past_amount"),
        Index("ix_payments_patient_id_id", "patient_id", "id"),
    )


class PaymentAllocation(Base):
    """The part of a payment that went to one invoice."""

    __tablename__ = "payment_allocations"

    payment_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("payments.id", ondelete="CASCADE"), primary_key=True
    )
    invoice_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("invoices.id"), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_payment_allocations_invoice_id", "invoice_id"),
    )


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    payment_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("payments.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    status: Mapped[str] = mapped_column(String(16))
    processor_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    reason: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status_choice"),
        Index("ix_refunds_payment_id", "payment_id"),
    )


class ProcessorEvent(Base):
    """A webhook event, recorded by its id in the transaction that applies it: a replay finds
    it here and changes nothing."""

    __tablename__ = "processor_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )


class PatientDiagnoses(Base):
    """A patient's diagnosis codes (ICD-10-CM), as a superbill lists them: PHI, encrypted."""

    __tablename__ = "patient_diagnoses"

    patient_id: Mapped[str] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    codes: Mapped[str] = mapped_column(EncryptedText("patient_diagnoses.codes"))
    updated_by: Mapped[str] = mapped_column(String(160))
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )

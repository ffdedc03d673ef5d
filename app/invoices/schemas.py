from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, TypedDict

from pydantic import BeforeValidator, ConfigDict, Field

from app.appointments.schemas import PatientRef, ServiceRef
from app.core.fields import Money, Text, blank_to_none, not_bool
from app.core.schemas import BaseSchema
from app.models.invoices import (
    INVOICE_STATUSES,
    LINE_DESCRIPTION_MAX_LENGTH,
    LINES_MAX,
    QUANTITY_MAX,
    InvoiceStatus,
)
from app.models.ledger import MEMO_MAX_LENGTH
from app.models.payments import PRICE_MAX
from app.payments.schemas import Price


# The rows its statements return: TypedDicts, checked against each statement when it is
# compiled (app.db.query).
class InvoiceRow(TypedDict):
    id: int
    patient_id: str | None
    kind: str
    status: str
    appointment_id: int | None
    number: str | None
    currency: str
    total: Decimal
    memo: str | None
    due_date: date | None
    issued_at: datetime | None
    paid_at: datetime | None
    closed_at: datetime | None
    created_by: str
    version: int
    created_at: datetime
    updated_at: datetime
    amount_due: Decimal
    amount_paid: Decimal


class LineRow(TypedDict):
    invoice_id: int
    position: int
    description: str
    service_id: int | None
    service_code: str | None
    date_of_service: date | None
    therapist_id: int | None
    quantity: int
    unit_price: Decimal
    amount: Decimal


class InvoicePaymentRow(TypedDict):
    invoice_id: int
    payment_id: int
    method: str
    status: str
    amount: Decimal
    created_at: datetime
    succeeded_at: datetime | None


class ServicePriceRow(TypedDict):
    id: int
    code: str
    name: str
    price: Decimal


class NumberedRow(TypedDict):
    year: int
    last_sequence: int


Quantity = Annotated[
    int, Field(ge=1, le=QUANTITY_MAX, examples=[1]), not_bool("A valid integer is required.")
]
UnitPrice = Price
Description = Annotated[Text, Field(min_length=1, max_length=LINE_DESCRIPTION_MAX_LENGTH)]
Memo = Annotated[Text, Field(max_length=MEMO_MAX_LENGTH)]

LINE_WRITE: dict[str, Any] = {"service": 3, "quantity": 1}
INVOICE_CREATE: dict[str, Any] = {
    "patient": "p_zxcp0h",
    "lines": [LINE_WRITE, {"description": "Copy of records", "unit_price": "15.00"}],
    "memo": "Records requested on 2 December.",
    "due_date": "2026-12-31",
}
LINE: dict[str, Any] = {
    "position": 1,
    "description": "90834 Psychotherapy, 45 minutes (sliding scale 60%)",
    "service": 3,
    "service_code": "90834",
    "date_of_service": "2026-12-01",
    "therapist": 7,
    "quantity": 1,
    "unit_price": "72.00",
    "amount": "72.00",
}
INVOICE: dict[str, Any] = {
    "id": 512,
    "number": "2026-000042",
    "patient": "p_zxcp0h",
    "kind": "session",
    "status": "open",
    "appointment": 1042,
    "currency": "USD",
    "total": "72.00",
    "amount_paid": "0.00",
    "amount_due": "72.00",
    "memo": None,
    "due_date": None,
    "lines": [LINE],
    "payments": [],
    "issued_at": "2026-12-01T10:05:00.120000Z",
    "paid_at": None,
    "closed_at": None,
    "created_by": "jdoe",
    "created_at": "2026-12-01T10:05:00.120000Z",
    "updated_at": "2026-12-01T10:05:00.120000Z",
}


class InvoiceLineWrite(BaseSchema):
    """A line of a manual invoice: a billable service (its code, name and the patient's price
    by default), or a description with a unit price."""

    model_config = ConfigDict(json_schema_extra={"examples": [LINE_WRITE]})

    service: ServiceRef | None = Field(
        default=None, description="A billable service's id; its price, scaled by the patient's "
        "sliding scale, is the unit price unless one is given."
    )  # fmt: skip
    description: Description | None = Field(
        default=None, description="1-200 characters; required without a service."
    )
    quantity: Quantity = 1
    unit_price: UnitPrice | None = Field(
        default=None,
        description=f"0 to {PRICE_MAX}, at most 2 decimal places; required without a service.",
        examples=["15.00"],
    )


Lines = Annotated[list[InvoiceLineWrite], Field(min_length=1, max_length=LINES_MAX)]


class InvoiceCreate(BaseSchema):
    """A manual invoice, written as a draft: staff issue it later (POST …/issue/)."""

    model_config = ConfigDict(json_schema_extra={"examples": [INVOICE_CREATE]})

    patient: PatientRef
    lines: Lines = Field(description=f"1 to {LINES_MAX} lines.")
    memo: Memo | None = None
    due_date: date | None = None


class InvoiceUpdate(BaseSchema):
    """PATCH of a draft: any of its lines (all replaced), memo and due date."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"memo": "Second copy."}]})

    lines: Lines | None = None
    memo: Memo | None = None
    due_date: date | None = None


class Reason(BaseSchema):
    """Why an admin voids an invoice or writes it off; kept in the ledger's memo."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Billed in error."}]})

    reason: Memo | None = None


class InvoiceLineRead(BaseSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [LINE]})

    position: int
    description: str
    service: int | None
    service_code: str | None
    date_of_service: date | None
    therapist: int | None
    quantity: int
    unit_price: Money
    amount: Money

    @classmethod
    def of(cls, row: LineRow) -> "InvoiceLineRead":
        return cls.model_validate(
            {**row, "service": row["service_id"], "therapist": row["therapist_id"]}
        )


class InvoicePaymentRead(BaseSchema):
    """A payment of the invoice: the part of it that went to this invoice."""

    id: int
    method: str
    status: str
    amount: Money
    created_at: datetime
    succeeded_at: datetime | None

    @classmethod
    def of(cls, row: InvoicePaymentRow) -> "InvoicePaymentRead":
        return cls.model_validate({**row, "id": row["payment_id"]})


class InvoiceRead(BaseSchema):
    """An invoice with its lines and payments. `amount_due` is the sum of its entries in the
    ledger; `amount_paid` what its succeeded payments gave it."""

    model_config = ConfigDict(json_schema_extra={"examples": [INVOICE]})
    list_path: ClassVar[str] = "/api/invoices/"

    id: int
    number: str | None = Field(
        description="YYYY-NNNNNN, given when the invoice is issued: per year, with no gap and "
        "no duplicate. Null for a draft."
    )
    patient: str | None = None
    kind: Literal["session", "noshow_fee", "late_cancellation_fee", "manual"]
    status: InvoiceStatus
    appointment: int | None = None
    currency: str
    total: Money
    amount_paid: Money
    amount_due: Money
    memo: str | None = None
    due_date: date | None = None
    lines: list[InvoiceLineRead]
    payments: list[InvoicePaymentRead]
    issued_at: datetime | None = None
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(
        cls, row: InvoiceRow, lines: list[LineRow], payments: list[InvoicePaymentRow]
    ) -> "InvoiceRead":
        return cls.model_validate(
            {
                **row,
                "patient": row["patient_id"],
                "appointment": row["appointment_id"],
                "lines": [InvoiceLineRead.of(line) for line in lines],
                "payments": [InvoicePaymentRead.of(payment) for payment in payments],
            }
        )


class InvoiceQuery(BaseSchema):
    """The list's filters."""

    patient: Annotated[PatientRef | None, BeforeValidator(blank_to_none)] = Field(
        default=None, description="Only this patient's invoices (a patient sees only theirs)."
    )
    status: Annotated[InvoiceStatus | None, BeforeValidator(blank_to_none)] = Field(
        default=None, description=f"Only invoices in this status: one of {INVOICE_STATUSES}."
    )
    year: Annotated[int | None, Field(ge=2000, le=2999), BeforeValidator(blank_to_none)] = Field(
        default=None, description="Only invoices numbered in this year."
    )

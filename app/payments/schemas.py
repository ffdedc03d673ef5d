"""What the billable services' and sliding scales' endpoints read and answer: every rule of their
fields, once. Money is a `Decimal` with 2 places, answered as a string; its currency is the
settings'."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, TypedDict

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from app.core.fields import (
    Money,
    Omittable,
    Text,
    amount,
    amount_schema,
    blank_to_none,
    documented,
    matching,
    not_bool,
)
from app.core.ids import BIGINT_MAX
from app.core.schemas import BaseSchema
from app.models.patient import PATIENT_ID
from app.models.payments import (
    CODE_MAX_LENGTH,
    CODE_RE,
    DURATION_MAX,
    DURATION_MIN,
    NAME_MAX_LENGTH,
    PERCENT_MAX,
    PERCENT_MIN,
    PRICE_MAX,
    REFERENCE_MAX_LENGTH,
    SCALE_REASON_MAX_LENGTH,
)


# The rows its statements return: TypedDicts, checked against each statement when it is
# compiled (app.db.query).
class BillableServiceRow(TypedDict):
    id: int
    code: str
    name: str
    duration_minutes: int
    price: Decimal
    created_at: datetime
    updated_at: datetime


class SlidingScaleRow(TypedDict):
    patient_id: str
    percent: int
    reason: str
    set_by: str
    set_at: datetime


CODE_FORMAT = "Use letters, digits, hyphens and dots only, e.g. 90834."

BILLABLE_SERVICE_CREATE: dict[str, Any] = {
    "code": "90834",
    "name": "Psychotherapy, 45 minutes",
    "duration_minutes": 45,
    "price": "120.00",
}
BILLABLE_SERVICE_UPDATE: dict[str, Any] = {"price": "125.00"}
BILLABLE_SERVICE: dict[str, Any] = {
    "id": 3,
    **BILLABLE_SERVICE_CREATE,
    "currency": "USD",
    "created_at": "2026-12-01T09:30:00.120000Z",
    "updated_at": "2026-12-01T09:30:00.120000Z",
}

Code = Annotated[
    Text,
    Field(
        min_length=1,
        max_length=CODE_MAX_LENGTH,
        description="The service's code (e.g. CPT 90834): 1-16 letters, digits, hyphens and "
        "dots, kept in upper case (g0176 is G0176); unique among the services not deleted.",
        examples=["90834"],
    ),
    documented(CODE_RE),
    matching(CODE_RE, "code_format", CODE_FORMAT),
    AfterValidator(str.upper),  # HCPCS codes are upper case: one code, however it is typed
]
ServiceName = Annotated[
    Text,
    Field(
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        description="One line of text, 1-100 characters.",
        examples=["Psychotherapy, 45 minutes"],
    ),
]
# Constraints before the bool check, so the schema states them as minimum and maximum.
DurationMinutes = Annotated[
    int,
    Field(
        ge=DURATION_MIN,
        le=DURATION_MAX,
        description="Minutes the service takes: 5 to 480.",
        examples=[45],
    ),
    not_bool("A valid integer is required."),
]
Price = Annotated[Decimal, amount(Decimal(0), PRICE_MAX), amount_schema(Decimal(0), PRICE_MAX)]
PRICE = (
    f"In CURRENCY: 0 to {PRICE_MAX}, plain ASCII digits with at most 2 decimal places "
    '("120", "120.50"), as a string or a JSON number written the same way.'
)


class BillableServiceCreate(BaseSchema):
    """A new billable service: every field required."""

    model_config = ConfigDict(json_schema_extra={"examples": [BILLABLE_SERVICE_CREATE]})

    code: Code
    name: ServiceName
    duration_minutes: DurationMinutes
    price: Price = Field(description=PRICE, examples=["120.00"])


class BillableServiceUpdate(BaseSchema):
    """PATCH: any subset of the fields; a field sent may not be null."""

    model_config = ConfigDict(json_schema_extra={"examples": [BILLABLE_SERVICE_UPDATE]})

    code: Omittable[Code] = None
    name: Omittable[ServiceName] = None
    duration_minutes: Omittable[DurationMinutes] = None
    price: Omittable[Price] = Field(default=None, description=PRICE, examples=["125.00"])


class BillableServiceRead(BaseSchema):
    """A billable service, its price in the settings' currency."""

    model_config = ConfigDict(json_schema_extra={"examples": [BILLABLE_SERVICE]})
    list_path: ClassVar[str] = "/api/billable-services/"

    id: int
    code: str
    name: str
    duration_minutes: int
    price: Money = Field(examples=["120.00"])
    currency: str = Field(
        description="The ISO 4217 code of the price's currency: the service's CURRENCY setting.",
        examples=["USD"],
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: BillableServiceRow, currency: str) -> "BillableServiceRead":
        return cls.model_validate({**row, "currency": currency})


class BillableServiceQuery(BaseSchema):
    """The list's filter."""

    code: Annotated[Code | None, BeforeValidator(blank_to_none)] = Field(
        default=None, description="Only the service with this code, in any case (g0176: G0176)."
    )


SLIDING_SCALE_SET: dict[str, Any] = {"percent": 60, "reason": "Income-based."}
SLIDING_SCALE: dict[str, Any] = {
    "patient": "p_zxcp0h",
    **SLIDING_SCALE_SET,
    "set_by": "jdoe",
    "set_at": "2026-12-01T09:30:00.120000Z",
}

# Constraints before the bool check, so the schema states them as minimum and maximum.
Percent = Annotated[
    int,
    Field(
        ge=PERCENT_MIN,
        le=PERCENT_MAX,
        description="The percent of a service's price the patient pays: 1 to 100 (100 is the "
        "full price).",
        examples=[60],
    ),
    not_bool("A valid integer is required."),
]
ScaleReason = Annotated[
    Text,
    Field(
        min_length=1,
        max_length=SCALE_REASON_MAX_LENGTH,
        description="Why, in one line of 1-250 characters. Keep it free of health information: "
        '"income-based", not a diagnosis.',
        examples=["Income-based."],
    ),
]


class SlidingScaleSet(BaseSchema):
    """A patient's sliding scale, set or replaced: both fields required."""

    model_config = ConfigDict(json_schema_extra={"examples": [SLIDING_SCALE_SET]})

    percent: Percent
    reason: ScaleReason


class SlidingScaleRead(BaseSchema):
    """A patient's sliding scale: the share of a service's price they pay, why, who set it and
    when."""

    model_config = ConfigDict(json_schema_extra={"examples": [SLIDING_SCALE]})

    patient: str = Field(description="The patient's id.", examples=["p_zxcp0h"])
    percent: int = Field(description="The percent of a service's price the patient pays.")
    reason: str
    set_by: str = Field(description="The username of the staff member who set it.")
    set_at: datetime

    @classmethod
    def of(cls, row: SlidingScaleRow) -> "SlidingScaleRead":
        return cls(
            patient=row["patient_id"],
            percent=row["percent"],
            reason=row["reason"],
            set_by=row["set_by"],
            set_at=row["set_at"],
        )


class PaymentRow(TypedDict):
    id: int
    patient_id: str | None
    purpose: str
    method: str
    status: str
    amount: Decimal
    amount_refunded: Decimal
    currency: str
    payment_method_id: int | None
    processor_intent_id: str | None
    processor_event_at: datetime | None
    reference: str | None
    failure_message: str | None
    succeeded_at: datetime | None
    disputed_at: datetime | None
    dispute_status: str | None
    created_by: str
    created_at: datetime


class AllocationRow(TypedDict):
    payment_id: int
    invoice_id: int
    number: str | None
    amount: Decimal


class CardRow(TypedDict):
    id: int
    processor_id: str
    customer_id: str | None


class DueRow(TypedDict):
    """An open invoice autopay is to charge, and where to tell its patient."""

    id: int
    patient_id: str
    number: str | None
    autopay_attempts: int
    amount_due: Decimal
    email: str | None


class EventRow(TypedDict):
    id: str


class BalanceRow(TypedDict):
    wallet_balance: Decimal


class RefundRow(TypedDict):
    id: int
    payment_id: int
    amount: Decimal
    status: str
    reason: str | None
    created_by: str
    created_at: datetime


InvoiceRef = Annotated[int, Field(ge=1, le=BIGINT_MAX), not_bool("A valid integer is required.")]
TopUpAmount = Annotated[
    Decimal, amount(Decimal("0.50"), PRICE_MAX), amount_schema(Decimal("0.50"), PRICE_MAX)
]
RefundAmount = Annotated[
    Decimal, amount(Decimal("0.01"), PRICE_MAX), amount_schema(Decimal("0.01"), PRICE_MAX)
]
PaymentMethodKind = Literal["card", "wallet", "cash", "cheque", "bank_transfer"]
PAYMENT_CREATE: dict[str, Any] = {"invoices": [512, 513], "method": "card", "payment_method": 7}
PAYMENT: dict[str, Any] = {
    "id": 88,
    "patient": "p_zxcp0h",
    "purpose": "invoices",
    "method": "card",
    "status": "succeeded",
    "amount": "144.00",
    "amount_refunded": "0.00",
    "currency": "USD",
    "invoices": [
        {"invoice": 512, "number": "2026-000042", "amount": "72.00"},
        {"invoice": 513, "number": "2026-000043", "amount": "72.00"},
    ],
    "payment_method": 7,
    "reference": None,
    "failure_message": None,
    "next_action": None,
    "disputed": False,
    "created_by": "p_zxcp0h",
    "created_at": "2026-12-01T10:05:00.120000Z",
    "succeeded_at": "2026-12-01T10:05:01.020000Z",
}


class PaymentCreate(BaseSchema):
    """Pay chosen invoices of one patient, in full, in one payment."""

    model_config = ConfigDict(json_schema_extra={"examples": [PAYMENT_CREATE]})

    invoices: list[InvoiceRef] = Field(
        min_length=1,
        max_length=50,
        description="The ids of the open invoices to pay (1 to 50, of one patient); each is "
        "paid its whole amount due.",
    )
    method: PaymentMethodKind = Field(
        description="card: a card on file, charged off-session; wallet: the patient's wallet; "
        "cash, cheque, bank_transfer: money staff received (staff only)."
    )
    payment_method: InvoiceRef | None = Field(
        default=None,
        description="With method card: the card on file's id; the patient's default when omitted.",
    )
    reference: Annotated[Text, Field(max_length=REFERENCE_MAX_LENGTH)] | None = Field(
        default=None, description="A cheque number or transfer reference (manual methods)."
    )


class TopUpCreate(BaseSchema):
    """Put money in the patient's wallet from a card on file."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"amount": "50.00"}]})

    amount: TopUpAmount
    payment_method: InvoiceRef | None = None


class RefundCreate(BaseSchema):
    """Give back part or all of what is left of a payment."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"amount": "20.00", "reason": "Session cut short."}]}
    )

    amount: RefundAmount | None = Field(
        default=None, description="What to refund; all that is left when omitted."
    )
    reason: Annotated[Text, Field(max_length=255)] | None = None


class NextAction(BaseSchema):
    """What the frontend needs to finish a payment that needs the patient (3-D Secure): call
    Stripe.js `confirmCardPayment(client_secret)`; the webhook (or POST …/refresh/) records the
    outcome."""

    type: Literal["use_stripe_sdk"] = "use_stripe_sdk"
    payment_intent: str
    client_secret: str


class PaymentInvoiceRead(BaseSchema):
    invoice: int
    number: str | None
    amount: Money


class PaymentRead(BaseSchema):
    """A payment: `pending`, `requires_action` (see next_action), `succeeded`, `failed` or
    `canceled`."""

    model_config = ConfigDict(json_schema_extra={"examples": [PAYMENT]})
    list_path: ClassVar[str] = "/api/payments/"

    id: int
    patient: str | None = None
    purpose: Literal["invoices", "wallet_topup"]
    method: PaymentMethodKind
    status: Literal["pending", "requires_action", "succeeded", "failed", "canceled"]
    amount: Money
    amount_refunded: Money
    currency: str
    invoices: list[PaymentInvoiceRead]
    payment_method: int | None = None
    reference: str | None = None
    failure_message: str | None = None
    next_action: NextAction | None = None
    disputed: bool
    created_by: str
    created_at: datetime
    succeeded_at: datetime | None = None

    @classmethod
    def of(
        cls,
        row: PaymentRow,
        allocations: list[AllocationRow],
        next_action: NextAction | None = None,
    ) -> "PaymentRead":
        return cls.model_validate(
            {
                **row,
                "patient": row["patient_id"],
                "payment_method": row["payment_method_id"],
                "invoices": [
                    {"invoice": a["invoice_id"], "number": a["number"], "amount": a["amount"]}
                    for a in allocations
                ],
                "next_action": next_action,
                "disputed": row["disputed_at"] is not None,
            }
        )


class RefundRead(BaseSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 5,
                    "payment": 88,
                    "amount": "20.00",
                    "status": "succeeded",
                    "reason": "Session cut short.",
                    "created_by": "admin",
                    "created_at": "2026-12-02T09:00:00.000000Z",
                }
            ]
        }
    )

    id: int
    payment: int
    amount: Money
    status: str
    reason: str | None = None
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, row: RefundRow) -> "RefundRead":
        return cls.model_validate({**row, "payment": row["payment_id"]})


class PaymentQuery(BaseSchema):
    patient: Annotated[
        Annotated[str, Field(pattern=f"^{PATIENT_ID.pattern}$")] | None,
        BeforeValidator(blank_to_none),
    ] = Field(default=None, description="Only this patient's payments (a patient: only theirs).")


class WebhookAnswer(BaseSchema):
    """What came of an event: `applied`, `duplicate` (a replay: nothing changed) or
    `ignored` (a type the service does not use)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"event": "evt_1Q2w3E4r", "outcome": "applied"}]}
    )

    event: str
    outcome: Literal["applied", "duplicate", "ignored"]

"""What a statement and a superbill answer, as JSON and as the PDF app.statements.pdf renders
from them. Money is a `Decimal` with 2 places, answered as a string, in the settings' CURRENCY;
a period's dates are the clinic's calendar days, both included."""

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypedDict

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from app.core.config import Settings
from app.core.fields import Icd10Code, Money, error
from app.core.schemas import BaseSchema


# The rows its statements return: TypedDicts, checked against each statement when it is
# compiled (app.db.query).
class DiagnosesRow(TypedDict):
    """A patient's diagnosis codes as stored: a JSON list, decrypted; None when none were set."""

    codes: str | None


class StatementPatientRow(TypedDict):
    id: str
    first_name: str
    last_name: str


class SuperbillPatientRow(TypedDict):
    id: str
    first_name: str
    last_name: str
    date_of_birth: date
    address: str | None
    codes: str | None


class BalancesRow(TypedDict):
    """The sums of a patient's receivable entries before the period and at its end."""

    opening: Decimal
    closing: Decimal


class StatementInvoiceRow(TypedDict):
    id: int
    number: str
    issued_at: datetime
    status: str
    total: Decimal
    amount_paid: Decimal
    amount_due: Decimal


class StatementPaymentRow(TypedDict):
    id: int
    received_at: datetime
    method: str
    amount: Decimal
    invoices: list[str]


class StatementRefundRow(TypedDict):
    id: int
    created_at: datetime
    amount: Decimal
    payment: int


class SuperbillLineRow(TypedDict):
    """A session invoice's line, with its invoice's total and what was paid on that invoice, and
    the sum of the invoice's lines up to and including it (to share what was paid)."""

    invoice_id: int
    date_of_service: date
    service_code: str
    description: str
    therapist_name: str
    therapist_npi: str | None
    amount: Decimal
    amount_through: Decimal
    invoice_total: Decimal
    invoice_paid: Decimal


DIAGNOSES_MAX = 12
DIAGNOSES: dict[str, Any] = {"codes": ["F41.1", "F33.0"]}
PERIOD_MAX_DAYS = 366


def _distinct(codes: list[str]) -> list[str]:
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            raise error("duplicate_code", f"{code} is listed more than once.")
        seen.add(code)
    return codes


class DiagnosesRead(BaseSchema):
    """A patient's diagnosis codes (ICD-10-CM), in the order staff gave them."""

    model_config = ConfigDict(json_schema_extra={"examples": [DIAGNOSES]})

    codes: list[str] = Field(
        description="ICD-10-CM codes, upper case with their dot.", examples=[["F41.1", "F33.0"]]
    )


class DiagnosesUpdate(BaseSchema):
    """PUT: the whole list, which replaces the one before; `[]` clears it."""

    model_config = ConfigDict(json_schema_extra={"examples": [DIAGNOSES]})

    codes: Annotated[
        list[Icd10Code], Field(max_length=DIAGNOSES_MAX), AfterValidator(_distinct)
    ] = Field(
        description=f"0 to {DIAGNOSES_MAX} ICD-10-CM codes, each once (f411 and F41.1 are one "
        "code), kept upper case with their dot."
    )


ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_day(value: Any) -> Any:
    """A day as YYYY-MM-DD only (pydantic would take 0 as 1970-01-01); blank as none."""
    if value is None or value == "" or isinstance(value, date):
        return None if value == "" else value
    if not isinstance(value, str) or not ISO_DAY.fullmatch(value):
        raise error(
            "date_format", "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
        )
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise error("date_invalid", "Enter a valid date.") from None


Day = Annotated[date | None, BeforeValidator(_iso_day)]


class StatementQuery(BaseSchema):
    """The period, in the clinic's calendar days, and the answer's format."""

    start: Day = Field(
        default=None,
        description="The first day, YYYY-MM-DD; default the first day of end's month (or of "
        "the current month, on the clinic's clock).",
        examples=["2026-03-01"],
    )
    end: Day = Field(
        default=None,
        description="The last day, YYYY-MM-DD, included; default the last day of start's month "
        f"(or of the current month); not before start, at most {PERIOD_MAX_DAYS} days in all.",
        examples=["2026-03-31"],
    )
    format: Literal["json", "pdf"] | None = Field(
        default=None,
        description="json or pdf; wins over the Accept header (application/json or "
        "application/pdf). Default JSON.",
        examples=["pdf"],
    )


# Stripe's model of an invoice's life (issue 25).
InvoiceStatus = Literal["draft", "open", "paid", "void", "uncollectible"]
PaymentMethod = Literal["card", "wallet", "cash", "cheque", "bank_transfer"]

STATEMENT: dict[str, Any] = {
    "patient": {"id": "p_zxcp0h", "name": "Zoë Ångström"},
    "period": {"start": "2026-03-01", "end": "2026-03-31"},
    "currency": "USD",
    "opening_balance": "40.00",
    "invoices": [
        {
            "id": 311,
            "number": "2026-000311",
            "issued_at": "2026-03-04T15:00:00Z",
            "status": "paid",
            "total": "120.00",
            "amount_paid": "120.00",
            "amount_due": "0.00",
        },
        {
            "id": 342,
            "number": "2026-000342",
            "issued_at": "2026-03-18T15:00:00Z",
            "status": "open",
            "total": "120.00",
            "amount_paid": "0.00",
            "amount_due": "120.00",
        },
    ],
    "payments": [
        {
            "id": 95,
            "received_at": "2026-03-05T10:12:00Z",
            "method": "card",
            "amount": "160.00",
            "invoices": ["2026-000288", "2026-000311"],
        }
    ],
    "refunds": [{"id": 7, "created_at": "2026-03-20T09:00:00Z", "amount": "20.00", "payment": 95}],
    "totals": {"invoiced": "240.00", "paid": "160.00", "refunded": "20.00"},
    "closing_balance": "140.00",
    "generated_at": "2026-04-01T08:00:00Z",
}

SUPERBILL: dict[str, Any] = {
    "practice": {
        "name": "TherapyConnect Practice",
        "address": "1 Main Street\nSpringfield, IL 62701",
        "tax_id": "12-3456789",
        "npi": "1234567893",
    },
    "patient": {
        "id": "p_zxcp0h",
        "name": "Zoë Ångström",
        "date_of_birth": "1990-07-14",
        "address": "22 Elm Road\nSpringfield, IL 62704",
    },
    "period": {"start": "2026-03-01", "end": "2026-03-31"},
    "currency": "USD",
    "diagnosis_codes": ["F41.1", "F33.0"],
    "lines": [
        {
            "date_of_service": "2026-03-04",
            "service_code": "90834",
            "description": "Psychotherapy, 45 minutes",
            "therapist_name": "Dr. Rivera",
            "therapist_npi": "1003000126",
            "fee": "120.00",
            "amount_paid": "120.00",
        }
    ],
    "totals": {"fees": "120.00", "paid": "120.00"},
    "generated_at": "2026-04-01T08:00:00Z",
}


class Period(BaseSchema):
    """Calendar days, the first and the last both included."""

    start: date
    end: date


class StatementPatient(BaseSchema):
    id: str = Field(examples=["p_zxcp0h"])
    name: str = Field(description="First and last name.", examples=["Zoë Ångström"])


class StatementInvoice(BaseSchema):
    """An invoice issued in the period, and where it stands at the period's end."""

    id: int
    number: str = Field(description="Its number, gapless per year.", examples=["2026-000311"])
    issued_at: datetime
    status: InvoiceStatus
    total: Money
    amount_paid: Money
    amount_due: Money


class StatementPayment(BaseSchema):
    """A payment received in the period, and the numbers of the invoices it paid."""

    id: int
    received_at: datetime
    method: PaymentMethod
    amount: Money
    invoices: list[str] = Field(description="The numbers of the invoices it paid.")


class StatementRefund(BaseSchema):
    """A refund made in the period, of the payment it names."""

    id: int
    created_at: datetime
    amount: Money
    payment: int = Field(description="The id of the payment refunded.")


class StatementTotals(BaseSchema):
    """The period's sums: invoices issued, payments received, refunds made."""

    invoiced: Money
    paid: Money
    refunded: Money


class StatementRead(BaseSchema):
    """A patient's statement of a period: its invoices, payments and refunds, and what the
    patient owed before it and owes at its end."""

    model_config = ConfigDict(json_schema_extra={"examples": [STATEMENT]})

    patient: StatementPatient
    period: Period
    currency: str = Field(description="The ISO 4217 code of every amount.", examples=["USD"])
    opening_balance: Money = Field(
        description="What the patient owed when the period began (negative: in credit)."
    )
    invoices: list[StatementInvoice]
    payments: list[StatementPayment]
    refunds: list[StatementRefund]
    totals: StatementTotals
    closing_balance: Money = Field(
        description="What the patient owes at the period's end (negative: in credit)."
    )
    generated_at: datetime


class Practice(BaseSchema):
    """The practice, from the PRACTICE_* settings."""

    name: str
    address: str = Field(description="Lines separated by line feeds; empty when unset.")
    tax_id: str | None = Field(description="An EIN, NN-NNNNNNN.", examples=["12-3456789"])
    npi: str | None = Field(description="The practice's (type 2) NPI.", examples=["1234567893"])

    @classmethod
    def of(cls, settings: Settings) -> "Practice":
        return cls(
            name=settings.practice_name,
            address=settings.practice_address,
            tax_id=settings.practice_tax_id,
            npi=settings.practice_npi,
        )


class SuperbillPatient(BaseSchema):
    id: str = Field(examples=["p_zxcp0h"])
    name: str = Field(description="First and last name.", examples=["Zoë Ångström"])
    date_of_birth: date
    address: str | None


class SuperbillLine(BaseSchema):
    """One service rendered: its date, code and fee, who rendered it, what was paid of it."""

    date_of_service: date
    service_code: str = Field(description="The CPT or HCPCS code.", examples=["90834"])
    description: str
    therapist_name: str
    therapist_npi: str | None = Field(description="The therapist's (type 1) NPI.")
    fee: Money
    amount_paid: Money


class SuperbillTotals(BaseSchema):
    fees: Money
    paid: Money


class SuperbillRead(BaseSchema):
    """What a patient sends an insurer for out-of-network reimbursement: the practice, the
    patient, the diagnoses, and each service of the period with its fee and what was paid."""

    model_config = ConfigDict(json_schema_extra={"examples": [SUPERBILL]})

    practice: Practice
    patient: SuperbillPatient
    period: Period
    currency: str = Field(description="The ISO 4217 code of every amount.", examples=["USD"])
    diagnosis_codes: list[str] = Field(
        description="ICD-10-CM codes, upper case with their dot.", examples=[["F41.1"]]
    )
    lines: list[SuperbillLine]
    totals: SuperbillTotals
    generated_at: datetime

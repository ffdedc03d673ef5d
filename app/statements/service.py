"""Statements, superbills and diagnosis codes, for the API: the period (defaults, its checks), the
figures made from the repository's sums, and the codes kept as a JSON list, encrypted."""

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from app.auth.permissions import Principal
from app.core.config import Settings
from app.core.errors import NotFound, ValidationFailed
from app.requests.work import UnitOfWork
from app.statements.repository import StatementRepository
from app.statements.schemas import (
    PERIOD_MAX_DAYS,
    Period,
    Practice,
    StatementInvoice,
    StatementPatient,
    StatementPayment,
    StatementRead,
    StatementRefund,
    StatementTotals,
    SuperbillLine,
    SuperbillLineRow,
    SuperbillPatient,
    SuperbillRead,
    SuperbillTotals,
)

CENT = Decimal("0.01")
END_BEFORE_START = "Must not be before start."
PERIOD_TOO_LONG = f"The period may be at most {PERIOD_MAX_DAYS} days."


def _month_of(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def _codes(stored: str | None) -> list[str]:
    if stored is None:
        return []
    codes: list[str] = json.loads(stored)
    return codes


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def paid_share(line: SuperbillLineRow) -> Decimal:
    """The part of what was paid on the line's invoice that falls to the line, in proportion to
    its amount: rounded on the running sum of the invoice's lines, so that the shares of all
    its lines add up to what was paid, to the cent."""
    total, paid = line["invoice_total"], line["invoice_paid"]
    if total <= 0:
        return Decimal("0.00")
    through = line["amount_through"]
    return _cents(paid * through / total) - _cents(paid * (through - line["amount"]) / total)


class StatementService:
    """Runs in a unit of work; each method's last statement completes it (with its audit event)."""

    def __init__(self, work: UnitOfWork, settings: Settings) -> None:
        self.work = work
        self.settings = settings
        self.statements = StatementRepository(work)

    # Diagnosis codes.

    async def diagnoses(self, patient_id: str) -> list[str]:
        found = await self.work.completed_by(self.statements.diagnoses(patient_id))
        if found is None:
            raise NotFound
        return _codes(found["codes"])

    async def set_diagnoses(self, patient_id: str, codes: list[str], actor: Principal) -> list[str]:
        written = self.statements.set_diagnoses(patient_id, json.dumps(codes), actor.name)
        found = await self.work.completed_by(written)
        if found is None:
            raise NotFound
        return _codes(found["codes"])

    # The period.

    def period(self, start: date | None, end: date | None) -> Period:
        """The period asked for: a missing day is taken from the month of the other, or of
        today on the clinic's clock."""
        today = datetime.now(UTC).astimezone(self.settings.clinic_zone).date()
        if start is None:
            start = _month_of(end or today)[0]
        if end is None:
            end = _month_of(start)[1]
        if end < start:
            raise ValidationFailed.on("end", END_BEFORE_START)
        if (end - start).days + 1 > PERIOD_MAX_DAYS:
            raise ValidationFailed.on("end", PERIOD_TOO_LONG)
        return Period(start=start, end=end)

    def _bounds(self, period: Period) -> tuple[datetime, datetime]:
        """The period's first and following midnights, on the clinic's clock."""
        zone = self.settings.clinic_zone
        start_at = datetime.combine(period.start, time(), zone)
        end_at = datetime.combine(period.end + timedelta(days=1), time(), zone)
        return start_at, end_at

    # The documents.

    async def statement(self, patient_id: str, period: Period) -> StatementRead:
        patient = await self.statements.statement_patient(patient_id)
        if patient is None:
            raise NotFound
        start_at, end_at = self._bounds(period)
        balances = await self.statements.balances(patient_id, start_at, end_at)
        invoices = await self.statements.invoices(patient_id, start_at, end_at)
        payments = await self.statements.payments(patient_id, start_at, end_at)
        refunds = await self.work.completed_by(
            self.statements.refunds(patient_id, start_at, end_at)
        )
        return StatementRead(
            patient=StatementPatient(
                id=patient["id"], name=f"{patient['first_name']} {patient['last_name']}"
            ),
            period=period,
            currency=self.settings.currency,
            opening_balance=balances["opening"],
            invoices=[StatementInvoice.model_validate(row) for row in invoices],
            payments=[StatementPayment.model_validate(row) for row in payments],
            refunds=[StatementRefund.model_validate(row) for row in refunds],
            totals=StatementTotals(
                invoiced=_sum(row["total"] for row in invoices if row["status"] != "void"),
                paid=_sum(row["amount"] for row in payments),
                refunded=_sum(row["amount"] for row in refunds),
            ),
            closing_balance=balances["closing"],
            generated_at=datetime.now(UTC),
        )

    async def superbill(self, patient_id: str, period: Period) -> SuperbillRead:
        patient = await self.statements.superbill_patient(patient_id)
        if patient is None:
            raise NotFound
        rows = await self.work.completed_by(
            self.statements.session_lines(patient_id, period.start, period.end)
        )
        lines = [
            SuperbillLine(
                date_of_service=row["date_of_service"],
                service_code=row["service_code"],
                description=row["description"],
                therapist_name=row["therapist_name"],
                therapist_npi=row["therapist_npi"],
                fee=row["amount"],
                amount_paid=paid_share(row),
            )
            for row in rows
        ]
        return SuperbillRead(
            practice=Practice.of(self.settings),
            patient=SuperbillPatient(
                id=patient["id"],
                name=f"{patient['first_name']} {patient['last_name']}",
                date_of_birth=patient["date_of_birth"],
                address=patient["address"],
            ),
            period=period,
            currency=self.settings.currency,
            diagnosis_codes=_codes(patient["codes"]),
            lines=lines,
            totals=SuperbillTotals(
                fees=_sum(line.fee for line in lines), paid=_sum(line.amount_paid for line in lines)
            ),
            generated_at=datetime.now(UTC),
        )


def _sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, Decimal("0.00"))

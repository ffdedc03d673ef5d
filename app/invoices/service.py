"""Invoices: manual drafts written by staff; issuing, with a number per year taken in the
issuing transaction and the amount posted to the ledger; voids and write-offs by admins; and
the invoices an appointment brings (its session when fulfilled, a no-show or late-cancellation
fee), issued in the transaction that changes the appointment."""

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.auth.permissions import Principal, listed_patient, may_access_patient
from app.core.conditional import Versions
from app.core.config import Settings
from app.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationFailed,
)
from app.db.counting import Count
from app.invoices.repository import InvoiceRepository, Line
from app.invoices.schemas import (
    InvoiceCreate,
    InvoiceLineWrite,
    InvoicePaymentRow,
    InvoiceQuery,
    InvoiceRow,
    InvoiceUpdate,
    LineRow,
)
from app.ledger.repository import LedgerRepository
from app.ledger.schemas import Entry
from app.patients.repository import PatientRepository
from app.requests.work import UnitOfWork

CENT = Decimal("0.01")
STALE = "The invoice has changed since it was read (If-Match)."
NO_SERVICE = "No billable service has this id."
FEE_DESCRIPTIONS = {
    "noshow_fee": "No-show fee",
    "late_cancellation_fee": "Late cancellation fee",
}


class Invoice:
    """An invoice as read: its row, lines and payments."""

    def __init__(
        self, row: InvoiceRow, lines: list[LineRow], payments: list[InvoicePaymentRow]
    ) -> None:
        self.row, self.lines, self.payments = row, lines, payments


def scaled(price: Decimal, percent: int | None) -> Decimal:
    """A price at the patient's sliding scale, to the cent (half up)."""
    if percent is None:
        return price
    return (price * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)


class InvoiceService:
    def __init__(self, work: UnitOfWork, settings: Settings) -> None:
        self.work = work
        self.settings = settings
        self.invoices = InvoiceRepository(work)
        self.ledger = LedgerRepository(work)

    # Reads.

    async def get(self, invoice_id: int, actor: Principal) -> Invoice:
        row = await self.invoices.get(invoice_id)
        if row is None or (row["status"] == "draft" and not actor.is_staff):
            raise NotFound
        self._may_see(row, actor)
        return await self._with_parts(row)

    def scope(self, query: InvoiceQuery, actor: Principal) -> dict[str, Any]:
        """The list's filters; a patient's list is theirs alone, and shows no draft (as Stripe
        shows a customer none: only staff write them)."""
        self.work.entry.patient_id = query.patient if actor.is_staff else actor.id
        return {
            **query.model_dump(),
            "patient": listed_patient(actor, query.patient),
            "drafts": actor.is_staff,
        }

    async def count(self, filters: dict[str, Any], *, exact_up_to: int | None) -> Count:
        return await self.invoices.count(filters, exact_up_to=exact_up_to)

    async def page(self, filters: dict[str, Any], *, offset: int, limit: int) -> list[Invoice]:
        rows = await self.invoices.page(filters, offset=offset, limit=limit)
        return await self._all_with_parts(rows)

    async def owed(self, patient_id: str) -> Decimal:
        """What a patient owes: the sum of their receivable entries in the ledger, which is the
        sum of their open invoices' amounts due."""
        self.work.entry.patient_id = patient_id
        return await self.ledger.patient_owes(patient_id)

    # Drafts.

    async def create(self, payload: InvoiceCreate, actor: Principal) -> Invoice:
        self.work.entry.patient_id = payload.patient
        await self.work.begin()
        if not await PatientRepository(self.work).exists(payload.patient):
            raise ValidationFailed.on("patient", "No patient has this id.")
        lines = await self._lines(payload.patient, payload.lines)
        invoice_id = await self.invoices.insert(
            patient_id=payload.patient,
            kind="manual",
            appointment_id=None,
            currency=self.settings.currency,
            memo=payload.memo,
            due_date=payload.due_date,
            created_by=actor.name,
            lines=lines,
        )
        return await self._read(invoice_id)

    async def update(
        self, invoice_id: int, payload: InvoiceUpdate, actor: Principal, versions: Versions
    ) -> Invoice:
        await self.work.begin()
        current = await self._locked(invoice_id, versions)
        self._is_draft(current)
        changes = payload.model_dump(exclude_unset=True)
        patient_id = current["patient_id"] or ""
        lines: Sequence[Line]
        if payload.lines is not None:
            lines = await self._lines(patient_id, payload.lines)
        else:
            lines = [Line(_line_values(line)) for line in await self.invoices.lines([invoice_id])]
        changed = await self.invoices.update_draft(
            invoice_id,
            lines=lines,
            memo=changes.get("memo", current["memo"]),
            due_date=changes.get("due_date", current["due_date"]),
            versions=versions,
        )
        if changed is None:
            raise PreconditionFailed(STALE)
        return await self._with_parts(changed)

    async def delete(self, invoice_id: int, versions: Versions) -> None:
        await self.work.begin()
        current = await self._locked(invoice_id, versions)
        self._is_draft(current)
        await self.invoices.delete_draft(invoice_id, versions)

    # Issuing, voiding, writing off.

    async def issue(self, invoice_id: int, actor: Principal, versions: Versions) -> Invoice:
        await self.work.begin()
        current = await self._locked(invoice_id, versions)
        self._is_draft(current)
        return await self._with_parts(await self._issue(current, actor))

    async def void(
        self, invoice_id: int, reason: str | None, actor: Principal, versions: Versions
    ) -> Invoice:
        """Void an open invoice nothing was paid on: what it asked for is taken back."""
        current = await self._open(invoice_id, versions, "voided")
        if current["amount_paid"] > 0:
            raise ValidationFailed.on(
                "non_field_errors",
                "An invoice with payments cannot be voided: refund them, or write the rest off.",
            )
        await self._settle(current, "void", "revenue", reason, actor)
        return await self._moved(current, "void")

    async def write_off(
        self, invoice_id: int, reason: str | None, actor: Principal, versions: Versions
    ) -> Invoice:
        """Give up on what an open invoice still asks for: it becomes uncollectible."""
        current = await self._open(invoice_id, versions, "written off")
        await self._settle(current, "write_off", "bad_debt", reason, actor)
        return await self._moved(current, "uncollectible")

    async def _open(self, invoice_id: int, versions: Versions, done: str) -> InvoiceRow:
        """The invoice, locked, if it is open with no card payment under way (which may yet
        succeed)."""
        await self.work.begin()
        current = await self._locked(invoice_id, versions)
        if current["status"] != "open":
            raise ValidationFailed.on(
                "non_field_errors",
                f"Only an open invoice can be {done}; this one is {current['status']}.",
            )
        for payment in await self.invoices.payments([invoice_id]):
            if payment["status"] in ("pending", "requires_action"):
                raise Conflict(
                    f"Payment {payment['payment_id']} of this invoice is still under way; "
                    "wait for its outcome."
                )
        return current

    # What an appointment brings.

    async def bill_session(
        self,
        *,
        appointment_id: int,
        patient_id: str,
        service_id: int | None,
        therapist_id: int,
        day: date,
        actor: Principal,
    ) -> InvoiceRow | None:
        """Issue the invoice of a fulfilled session: its service at the patient's price. An
        appointment that names no service, or was billed already, is not billed."""
        if service_id is None or await self.invoices.for_appointment(appointment_id, "session"):
            return None
        lines = await self._lines(
            patient_id,
            [InvoiceLineWrite(service=service_id)],
            day=day,
            therapist_id=therapist_id,
            with_deleted=True,
        )
        return await self._issue_new(patient_id, "session", appointment_id, lines, actor)

    async def bill_fee(
        self,
        *,
        appointment_id: int,
        patient_id: str,
        kind: str,
        fee: Decimal,
        day: date,
        therapist_id: int,
        actor: Principal,
    ) -> InvoiceRow | None:
        """Issue a no-show or late-cancellation fee as an invoice of its own."""
        if fee <= 0 or await self.invoices.for_appointment(appointment_id, kind):
            return None
        line = Line(
            position=1,
            description=f"{FEE_DESCRIPTIONS[kind]} for appointment {appointment_id}",
            service_id=None,
            service_code=None,
            date_of_service=day,
            therapist_id=therapist_id,
            quantity=1,
            unit_price=fee,
        )
        return await self._issue_new(patient_id, kind, appointment_id, [line], actor)

    # Helpers.

    async def _issue_new(
        self,
        patient_id: str,
        kind: str,
        appointment_id: int,
        lines: Sequence[Line],
        actor: Principal,
    ) -> InvoiceRow:
        invoice_id = await self.invoices.insert(
            patient_id=patient_id,
            kind=kind,
            appointment_id=appointment_id,
            currency=self.settings.currency,
            memo=None,
            due_date=None,
            created_by=actor.name,
            lines=lines,
        )
        draft = await self.invoices.lock(invoice_id)
        assert draft is not None
        return await self._issue(draft, actor)

    async def _issue(self, draft: InvoiceRow, actor: Principal) -> InvoiceRow:
        year = datetime.now(UTC).astimezone(self.settings.clinic_zone).year
        taken = await self.invoices.next_number(year)
        total = draft["total"]
        number = await self.invoices.issue(
            draft["id"],
            status="open" if total > 0 else "paid",
            year=taken["year"],
            sequence=taken["last_sequence"],
        )
        assert number is not None  # locked, and found a draft
        if total > 0:
            patient_id = draft["patient_id"]
            await self.ledger.post(
                "invoice" if draft["kind"] in ("session", "manual") else "fee",
                [
                    Entry("receivable", total, patient_id, draft["id"]),
                    Entry("revenue", -total),
                ],
                actor=actor.name,
                actor_kind=actor.kind,
                patient_id=patient_id,
                invoice_id=draft["id"],
                memo=f"Invoice {number}",
            )
        issued = await self.invoices.get(draft["id"])  # its figures, the ledger's entry included
        assert issued is not None
        return issued

    async def _settle(
        self, invoice: InvoiceRow, kind: str, against: str, reason: str | None, actor: Principal
    ) -> None:
        due = invoice["amount_due"]
        if due == 0:
            return
        await self.ledger.post(
            "void" if kind == "void" else "write_off",
            [
                Entry("receivable", -due, invoice["patient_id"], invoice["id"]),
                Entry("revenue" if against == "revenue" else "bad_debt", due),
            ],
            actor=actor.name,
            actor_kind=actor.kind,
            patient_id=invoice["patient_id"],
            invoice_id=invoice["id"],
            memo=reason,
        )

    async def _moved(self, current: InvoiceRow, to_status: str) -> Invoice:
        moved = await self.invoices.move(current["id"], current["status"], to_status)
        assert moved is not None  # locked
        return await self._with_parts(moved)

    async def _locked(self, invoice_id: int, versions: Versions) -> InvoiceRow:
        current = await self.invoices.lock(invoice_id)
        if current is None:
            raise NotFound
        self.work.entry.patient_id = current["patient_id"]
        if versions is not None and current["version"] not in versions:
            raise PreconditionFailed(STALE)
        return current

    @staticmethod
    def _is_draft(invoice: InvoiceRow) -> None:
        if invoice["status"] != "draft":
            raise Conflict(
                f"The invoice is {invoice['status']}: only a draft can be changed or deleted."
            )

    def _may_see(self, invoice: InvoiceRow, actor: Principal) -> None:
        patient_id = invoice["patient_id"]
        self.work.entry.patient_id = patient_id
        if not may_access_patient(actor, patient_id or ""):
            raise PermissionDenied

    async def _lines(
        self,
        patient_id: str,
        lines: Sequence[InvoiceLineWrite],
        *,
        day: date | None = None,
        therapist_id: int | None = None,
        with_deleted: bool = False,
    ) -> list[Line]:
        """The lines to write: a service's code, name and the patient's price filled in. A
        manual line may not name a deleted service; a session's appointment may, as it named
        the service before it was deleted."""
        wanted = {line.service for line in lines if line.service is not None}
        services = (
            await self.invoices.services(sorted(wanted), with_deleted=with_deleted)
            if wanted
            else {}
        )
        percent = await self.invoices.scale(patient_id) if wanted else None
        errors: list[str] = []
        written: list[Line] = []
        for position, line in enumerate(lines, start=1):
            service = services.get(line.service) if line.service is not None else None
            if line.service is not None and service is None:
                errors.append(f"Item {position}: {NO_SERVICE}")
                continue
            if service is None and (line.description is None or line.unit_price is None):
                errors.append(
                    f"Item {position}: A line without a service needs a description and a "
                    "unit price."
                )
                continue
            description = line.description
            unit_price = line.unit_price
            if service is not None:
                if description is None:
                    description = f"{service['code']} {service['name']}"
                    if percent is not None and line.unit_price is None:
                        description += f" (sliding scale {percent}%)"
                if unit_price is None:
                    unit_price = scaled(service["price"], percent)
            assert description is not None
            assert unit_price is not None
            written.append(
                Line(
                    position=position,
                    description=description[:200],
                    service_id=line.service,
                    service_code=None if service is None else service["code"],
                    date_of_service=day,
                    therapist_id=therapist_id,
                    quantity=line.quantity,
                    unit_price=unit_price,
                )
            )
        if errors:
            raise ValidationFailed({"lines": errors})
        return written

    async def _read(self, invoice_id: int) -> Invoice:
        row = await self.invoices.get(invoice_id)
        assert row is not None
        return await self._with_parts(row)

    async def _with_parts(self, row: InvoiceRow) -> Invoice:
        return (await self._all_with_parts([row]))[0]

    async def _all_with_parts(self, rows: list[InvoiceRow]) -> list[Invoice]:
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        lines, payments = await self.invoices.lines(ids), await self.invoices.payments(ids)
        return [
            Invoice(
                row,
                [line for line in lines if line["invoice_id"] == row["id"]],
                [payment for payment in payments if payment["invoice_id"] == row["id"]],
            )
            for row in rows
        ]


def _line_values(line: LineRow) -> dict[str, Any]:
    return {key: value for key, value in line.items() if key not in ("invoice_id", "amount")}

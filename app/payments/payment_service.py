"""Paying invoices and refunding payments, in one transaction each.

The invoices a payment pays are locked (in id order) before anything else, and stay locked
until the payment's outcome is written: a second attempt on one of them waits, then finds it
paid (a 400) or its payment still under way (a 409), so two attempts at once never make two
charges. A card is charged off-session with an idempotency key derived from the payment's row,
whose id the attempt owns. A charge that needs the patient (3-D Secure) is answered with what
the frontend needs to finish it; its outcome comes back by webhook, or by POST …/refresh/.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.auth.permissions import Principal, listed_patient, may_access_patient
from app.core.config import Settings
from app.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from app.db.counting import Count
from app.invoices.repository import InvoiceRepository
from app.invoices.schemas import InvoiceRow
from app.ledger.repository import LedgerRepository
from app.ledger.schemas import Entry
from app.models.payments import MANUAL_METHODS
from app.payments.payment_repository import PaymentRepository
from app.payments.schemas import (
    AllocationRow,
    CardRow,
    NextAction,
    PaymentCreate,
    PaymentRow,
    RefundCreate,
    RefundRow,
    TopUpCreate,
)
from app.processor.client import Processor
from app.processor.money import from_minor, to_minor
from app.processor.results import Intent
from app.requests.work import UnitOfWork


@dataclass
class Paid:
    payment: PaymentRow
    allocations: list[AllocationRow]
    next_action: NextAction | None = None


class PaymentService:
    def __init__(self, work: UnitOfWork, settings: Settings, processor: Processor) -> None:
        self.work = work
        self.settings = settings
        self.processor = processor
        self.payments = PaymentRepository(work)
        self.invoices = InvoiceRepository(work)
        self.ledger = LedgerRepository(work)

    # Reads.

    async def get(self, payment_id: int, actor: Principal) -> Paid:
        payment = await self.payments.get(payment_id)
        if payment is None:
            raise NotFound
        self._may_see(payment["patient_id"], actor)
        return Paid(payment, await self.payments.allocations([payment_id]))

    def scope(self, patient: str | None, actor: Principal) -> str | None:
        self.work.entry.patient_id = patient if actor.is_staff else actor.id
        return listed_patient(actor, patient)

    async def count(self, patient: str | None, *, exact_up_to: int | None) -> Count:
        return await self.payments.count(patient, exact_up_to=exact_up_to)

    async def page(self, patient: str | None, *, offset: int, limit: int) -> list[Paid]:
        rows = await self.payments.page(patient, offset=offset, limit=limit)
        allocations = await self.payments.allocations([row["id"] for row in rows])
        return [Paid(row, [a for a in allocations if a["payment_id"] == row["id"]]) for row in rows]

    async def disputed(self, *, offset: int, limit: int) -> list[Paid]:
        """The payments a dispute was opened on (flagged to admins), the latest first."""
        rows = await self.payments.disputed_page(offset=offset, limit=limit)
        allocations = await self.payments.allocations([row["id"] for row in rows])
        return [Paid(row, [a for a in allocations if a["payment_id"] == row["id"]]) for row in rows]

    async def disputed_count(self, *, exact_up_to: int | None) -> Count:
        return await self.payments.disputed_count(exact_up_to=exact_up_to)

    # Paying.

    async def pay(self, payload: PaymentCreate, actor: Principal) -> Paid:
        if payload.method in MANUAL_METHODS and not actor.is_staff:
            raise PermissionDenied("Only staff record cash, cheque and bank transfer payments.")
        await self.work.begin()
        invoices = await self._payable(payload.invoices, actor)
        patient_id = invoices[0]["patient_id"]
        assert patient_id is not None
        shares = [(invoice["id"], invoice["amount_due"]) for invoice in invoices]
        amount = sum((due for _, due in shares), Decimal(0))
        if payload.method == "card":
            return await self._charge(patient_id, shares, amount, payload.payment_method, actor)
        if payload.method == "wallet":
            return await self._from_wallet(patient_id, shares, amount, actor)
        payment = await self.payments.insert(
            patient_id=patient_id,
            purpose="invoices",
            method=payload.method,
            status="succeeded",
            amount=amount,
            currency=self.settings.currency,
            reference=payload.reference,
            created_by=actor.name,
            created_by_kind=actor.kind,
        )
        await self.payments.allocate(payment["id"], shares)
        await self._post_payment(payment, shares, "cash", actor.name, actor.kind)
        return Paid(payment, await self.payments.allocations([payment["id"]]))

    async def top_up(self, patient_id: str, payload: TopUpCreate, actor: Principal) -> Paid:
        self._may_see(patient_id, actor)
        await self.work.begin()
        card, customer = await self._card(patient_id, payload.payment_method)
        payment = await self.payments.insert(
            patient_id=patient_id,
            purpose="wallet_topup",
            method="card",
            status="pending",
            amount=payload.amount,
            currency=self.settings.currency,
            payment_method_id=card["id"],
            created_by=actor.name,
            created_by_kind=actor.kind,
        )
        return await self._charged(payment, [], card["processor_id"], customer)

    async def refresh(self, payment_id: int, actor: Principal) -> Paid:
        """Ask the processor how a card payment stands, and record it."""
        await self.work.begin()
        payment = await self.payments.lock(payment_id)
        if payment is None:
            raise NotFound
        self._may_see(payment["patient_id"], actor)
        if payment["processor_intent_id"] is not None and payment["status"] in (
            "pending",
            "requires_action",
        ):
            intent = await self.processor.retrieve_intent(payment["processor_intent_id"])
            payment = await self.apply_intent(payment, intent, None)
        return await self._answer(payment)

    async def apply_intent(
        self, payment: PaymentRow, intent: Intent, event_at: datetime | None
    ) -> PaymentRow:
        """Record what the processor says of a payment's intent; a payment already succeeded,
        or an older event than the last applied, changes nothing (never backwards)."""
        if payment["status"] == "succeeded":
            return payment
        last = payment["processor_event_at"]
        if event_at is not None and last is not None and event_at < last:
            return payment
        if intent.status == "succeeded":
            shares = [
                (a["invoice_id"], a["amount"])
                for a in await self.payments.allocations([payment["id"]])
            ]
            await self.invoices.lock_many([invoice for invoice, _ in shares])
            payment = await self.payments.outcome(
                payment["id"], "succeeded", intent=intent.id, event_at=event_at
            )
            if payment["purpose"] == "wallet_topup":
                await self._post_top_up(payment)
            else:
                await self._post_payment(
                    payment, shares, "processor", payment["created_by"], "system"
                )
            return payment
        status = {"requires_action": "requires_action", "processing": "pending"}.get(
            intent.status, "failed" if intent.status == "failed" else "canceled"
        )
        return await self.payments.outcome(
            payment["id"],
            status,
            intent=intent.id,
            failure_message=intent.failure_message,
            event_at=event_at,
        )

    # Refunds.

    async def refund(self, payment_id: int, payload: RefundCreate, actor: Principal) -> RefundRow:
        await self.work.begin()
        payment = await self.payments.lock(payment_id)
        if payment is None:
            raise NotFound
        self.work.entry.patient_id = payment["patient_id"]
        if payment["status"] != "succeeded":
            raise ValidationFailed.on(
                "non_field_errors", "Only a succeeded payment can be refunded."
            )
        left = payment["amount"] - payment["amount_refunded"]
        amount = payload.amount if payload.amount is not None else left
        if amount <= 0 or amount > left:
            raise ValidationFailed.on(
                "amount", f"A refund cannot exceed what is left of the payment: {left:.2f}."
            )
        changed = await self.payments.refunded(payment_id, amount)
        assert changed is not None  # locked, and checked
        processor_refund_id = None
        if payment["method"] == "card" and payment["processor_intent_id"] is not None:
            refund = await self.processor.refund(
                payment_intent=payment["processor_intent_id"],
                amount_minor=to_minor(amount, payment["currency"]),
                idempotency_key=f"refund-{payment_id}-{changed['amount_refunded']}",
                metadata={"payment": str(payment_id)},
            )
            processor_refund_id = refund.id
        row = await self.payments.insert_refund(
            id=payment_id,
            amount=amount,
            processor_refund_id=processor_refund_id,
            reason=payload.reason,
            created_by=actor.name,
        )
        await self.post_refund(payment, row, actor.name, actor.kind)
        return row

    async def post_refund(
        self, payment: PaymentRow, refund: RefundRow, actor: str, actor_kind: str
    ) -> None:
        amount, patient_id = refund["amount"], payment["patient_id"]
        if payment["method"] == "wallet" and patient_id is not None:
            balance = await self.payments.change_wallet(
                patient_id, amount, "Refund", actor=actor, actor_kind=actor_kind
            )
            back = Entry("wallet", -amount, patient_id, balance_after=balance)
        else:
            back = Entry("processor" if payment["method"] == "card" else "cash", -amount)
        await self.ledger.post(
            "refund",
            [back, Entry("refunds", amount)],
            actor=actor,
            actor_kind=actor_kind,
            patient_id=patient_id,
            payment_id=payment["id"],
            refund_id=refund["id"],
            memo=refund["reason"],
        )

    # Helpers.

    async def _payable(self, invoice_ids: list[int], actor: Principal) -> list[InvoiceRow]:
        wanted = sorted(set(invoice_ids))
        invoices = await self.invoices.lock_many(wanted)
        found = {invoice["id"] for invoice in invoices}
        missing = [invoice_id for invoice_id in wanted if invoice_id not in found]
        if missing:
            raise ValidationFailed.on("invoices", f"No invoice has the id {missing[0]}.")
        patients = {invoice["patient_id"] for invoice in invoices}
        if len(patients) > 1:
            raise ValidationFailed.on("invoices", "A payment pays invoices of one patient.")
        self._may_see(invoices[0]["patient_id"], actor)
        for invoice in invoices:
            if invoice["status"] != "open" or invoice["amount_due"] <= 0:
                raise ValidationFailed.on(
                    "invoices",
                    f"Invoice {invoice['number'] or invoice['id']} is {invoice['status']}: "
                    "only an open invoice with an amount due can be paid.",
                )
        under_way = await self.payments.under_way(wanted)
        if under_way:
            first = under_way[0]
            raise Conflict(
                f"A payment of invoice {first['number']} is already under way "
                f"(payment {first['payment_id']})."
            )
        return invoices

    async def _card(self, patient_id: str, card_id: int | None) -> tuple[CardRow, str]:
        """The card on file to charge (the default unless named), and its customer."""
        card = await self.payments.card(patient_id, card_id)
        if card is None or card["customer_id"] is None:
            raise ValidationFailed.on(
                "payment_method",
                "No card on file has this id." if card_id else "The patient has no default card.",
            )
        return card, card["customer_id"]

    async def _charge(
        self,
        patient_id: str,
        shares: list[tuple[int, Decimal]],
        amount: Decimal,
        card_id: int | None,
        actor: Principal,
    ) -> Paid:
        card, customer = await self._card(patient_id, card_id)
        payment = await self.payments.insert(
            patient_id=patient_id,
            purpose="invoices",
            method="card",
            status="pending",
            amount=amount,
            currency=self.settings.currency,
            payment_method_id=card["id"],
            created_by=actor.name,
            created_by_kind=actor.kind,
        )
        await self.payments.allocate(payment["id"], shares)
        return await self._charged(payment, shares, card["processor_id"], customer)

    async def _charged(
        self,
        payment: PaymentRow,
        shares: list[tuple[int, Decimal]],
        card: str,
        customer: str,
    ) -> Paid:
        intent = await self.processor.charge(
            amount_minor=to_minor(payment["amount"], payment["currency"]),
            currency=payment["currency"],
            customer=customer,
            payment_method=card,
            idempotency_key=f"payment-{payment['id']}",
            metadata={
                "payment": str(payment["id"]),
                "patient": payment["patient_id"] or "",
                "invoices": ",".join(str(invoice) for invoice, _ in shares),
            },
        )
        if from_minor(intent.amount_minor, intent.currency) != payment["amount"]:
            raise Conflict("The processor charged another amount than asked.")
        payment = await self.apply_intent(payment, intent, None)
        return await self._answer(payment, intent)

    async def _answer(self, payment: PaymentRow, intent: Intent | None = None) -> Paid:
        next_action = None
        if payment["status"] == "requires_action":
            if intent is None and payment["processor_intent_id"] is not None:
                intent = await self.processor.retrieve_intent(payment["processor_intent_id"])
            if intent is not None and intent.client_secret is not None:
                next_action = NextAction(
                    payment_intent=intent.id, client_secret=intent.client_secret
                )
        return Paid(payment, await self.payments.allocations([payment["id"]]), next_action)

    async def _from_wallet(
        self,
        patient_id: str,
        shares: list[tuple[int, Decimal]],
        amount: Decimal,
        actor: Principal,
    ) -> Paid:
        balance = await self.payments.change_wallet(
            patient_id, -amount, "Invoices paid", actor=actor.name, actor_kind=actor.kind
        )
        if balance is None:
            raise ValidationFailed.on(
                "method", f"Insufficient balance: the wallet holds less than {amount:.2f}."
            )
        payment = await self.payments.insert(
            patient_id=patient_id,
            purpose="invoices",
            method="wallet",
            status="succeeded",
            amount=amount,
            currency=self.settings.currency,
            created_by=actor.name,
            created_by_kind=actor.kind,
        )
        await self.payments.allocate(payment["id"], shares)
        await self.ledger.post(
            "wallet_applied",
            [
                Entry("wallet", amount, patient_id, balance_after=balance),
                *(Entry("receivable", -due, patient_id, invoice) for invoice, due in shares),
            ],
            actor=actor.name,
            actor_kind=actor.kind,
            patient_id=patient_id,
            payment_id=payment["id"],
            memo=f"Payment {payment['id']}",
        )
        await self.mark_paid([invoice for invoice, _ in shares])
        return Paid(payment, await self.payments.allocations([payment["id"]]))

    async def _post_payment(
        self,
        payment: PaymentRow,
        shares: list[tuple[int, Decimal]],
        account: str,
        actor: str,
        actor_kind: str,
    ) -> None:
        patient_id = payment["patient_id"]
        await self.ledger.post(
            "payment",
            [
                Entry("processor" if account == "processor" else "cash", payment["amount"]),
                *(Entry("receivable", -due, patient_id, invoice) for invoice, due in shares),
            ],
            actor=actor,
            actor_kind=actor_kind,
            patient_id=patient_id,
            payment_id=payment["id"],
            memo=f"Payment {payment['id']}",
        )
        await self.mark_paid([invoice for invoice, _ in shares])

    async def _post_top_up(self, payment: PaymentRow) -> None:
        patient_id = payment["patient_id"]
        assert patient_id is not None
        balance = await self.payments.change_wallet(
            patient_id,
            payment["amount"],
            "Top-up",
            actor=payment["created_by"],
            actor_kind="system",
        )
        if balance is None:
            raise ValidationFailed.on("amount", "The wallet cannot hold that much.")
        await self.ledger.post(
            "wallet_topup",
            [
                Entry("processor", payment["amount"]),
                Entry("wallet", -payment["amount"], patient_id, balance_after=balance),
            ],
            actor=payment["created_by"],
            actor_kind="system",
            patient_id=patient_id,
            payment_id=payment["id"],
            memo="Top-up by card",
        )

    async def mark_paid(self, invoice_ids: list[int]) -> None:
        if invoice_ids:
            await self.invoices.settle(invoice_ids)

    def _may_see(self, patient_id: str | None, actor: Principal) -> None:
        self.work.entry.patient_id = patient_id
        if not may_access_patient(actor, patient_id or ""):
            raise PermissionDenied

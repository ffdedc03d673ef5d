"""Stripe's webhook, applied exactly once.

Each event is recorded by its id in the transaction that applies it, before its effect: a
replay (or the same event delivered twice at once: the second waits on the first's row) finds
it recorded and changes nothing, and an effect that fails rolls the record back with it, so
Stripe's retry applies it then. Events may arrive in any order: a payment never moves from
`succeeded`, and never to an older event's state than the last applied (app.payments
.payment_service.PaymentService.apply_intent). A PaymentIntent the ledger does not know (the
service stopped between the charge and its commit) is posted from its metadata.
"""

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.cards.service import CardService
from app.core.config import Settings
from app.invoices.repository import InvoiceRepository
from app.ledger.repository import LedgerRepository
from app.ledger.schemas import Entry
from app.payments.payment_repository import PaymentRepository
from app.payments.payment_service import PaymentService
from app.payments.schemas import PaymentRow
from app.processor.client import Processor
from app.processor.money import from_minor
from app.processor.results import Event, Intent, intent_from, setup_from
from app.requests.work import UnitOfWork

logger = logging.getLogger(__name__)

PROCESSOR_ACTOR = "stripe"
INTENT_EVENTS = {
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.requires_action",
    "payment_intent.processing",
}
REFUND_EVENTS = {"charge.refunded", "refund.created", "refund.updated"}
DISPUTE_EVENTS = {"charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed"}
CARD_EVENTS = {"setup_intent.succeeded", "payment_method.detached"}


class Webhooks:
    def __init__(self, work: UnitOfWork, settings: Settings, processor: Processor) -> None:
        self.work = work
        self.cards = CardService(work, processor, settings)
        self.payments = PaymentRepository(work)
        self.service = PaymentService(work, settings, processor)
        self.invoices = InvoiceRepository(work)
        self.ledger = LedgerRepository(work)

    async def apply(self, event: Event) -> str:
        """Apply one event once; what came of it: applied, duplicate or ignored."""
        await self.work.begin()
        handled = event.type in INTENT_EVENTS | REFUND_EVENTS | DISPUTE_EVENTS | CARD_EVENTS
        created = datetime.fromtimestamp(event.created, UTC)
        outcome = "applied" if handled else "ignored"
        if not await self.payments.record_event(event.id, event.type, created, outcome):
            return "duplicate"
        if not handled:
            logger.info("stripe event %s of type %s ignored", event.id, event.type)
            return outcome
        if event.type in INTENT_EVENTS:
            await self.intent(intent_from(event.data_object), created)
        elif event.type in REFUND_EVENTS:
            await self.refunds(event)
        elif event.type in DISPUTE_EVENTS:
            await self.dispute(event.data_object)
        elif event.type == "setup_intent.succeeded":
            await self.cards.record_setup(setup_from(event.data_object))
        else:
            await self.cards.card_detached(str(event.data_object.get("id") or ""))
        return outcome

    async def intent(self, intent: Intent, at: datetime | None) -> PaymentRow | None:
        """Record what a PaymentIntent says; one the ledger does not know is posted."""
        payment = await self.payments.by_intent(intent.id)
        if payment is None and (known := _int(intent.metadata.get("payment"))) is not None:
            payment = await self.payments.lock(known)
        if payment is None:
            patient_id = intent.metadata.get("patient")
            if intent.status != "succeeded" or patient_id is None:
                return None
            if not await self.payments.patient_known(patient_id):
                logger.warning("PaymentIntent %s names no patient the service has", intent.id)
                return None
            return await self.recover(intent)
        self.work.entry.patient_id = payment["patient_id"]
        return await self.service.apply_intent(payment, intent, at)

    async def recover(self, intent: Intent) -> PaymentRow:
        """Post a succeeded PaymentIntent whose payment never committed: to the invoices it was
        for that are still open (their whole amount due), the rest to the patient's wallet."""
        patient_id = intent.metadata["patient"]
        self.work.entry.patient_id = patient_id
        amount = from_minor(intent.amount_minor, intent.currency)
        wanted = [i for i in (_int(x) for x in intent.metadata.get("invoices", "").split(",")) if i]
        invoices = await self.invoices.lock_many(wanted) if wanted else []
        shares: list[tuple[int, Decimal]] = []
        left = amount
        for invoice in invoices:
            due = invoice["amount_due"]
            if (
                invoice["patient_id"] == patient_id
                and invoice["status"] == "open"
                and 0 < due <= left
            ):
                shares.append((invoice["id"], due))
                left -= due
        payment = await self.payments.insert(
            patient_id=patient_id,
            purpose="invoices" if wanted else "wallet_topup",
            method="card",
            status="succeeded",
            amount=amount,
            currency=intent.currency,
            processor_intent_id=intent.id,
            created_by=PROCESSOR_ACTOR,
            created_by_kind="processor",
        )
        if shares:
            await self.payments.allocate(payment["id"], shares)
        entries = [
            Entry("processor", amount),
            *(Entry("receivable", -due, patient_id, invoice) for invoice, due in shares),
        ]
        if left > 0:
            balance = await self.payments.change_wallet(
                patient_id,
                left,
                "Card payment recovered",
                actor=PROCESSOR_ACTOR,
                actor_kind="processor",
            )
            entries.append(Entry("wallet", -left, patient_id, balance_after=balance))
        await self.ledger.post(
            "payment",
            entries,
            actor=PROCESSOR_ACTOR,
            actor_kind="processor",
            patient_id=patient_id,
            payment_id=payment["id"],
            memo=f"Recovered from {intent.id}",
        )
        await self.service.mark_paid([invoice for invoice, _ in shares])
        logger.warning(
            "payment %s posted from a PaymentIntent the ledger did not know", payment["id"]
        )
        return payment

    async def refunds(self, event: Event) -> None:
        """Refunds made at the processor (its dashboard, say) that the ledger does not know."""
        found = event.data_object
        refunds: list[dict[str, Any]] = (
            found.get("refunds", {}).get("data", []) if found.get("object") == "charge" else [found]
        )
        intent_id = found.get("payment_intent")
        for refund in refunds:
            if refund.get("status") not in (None, "succeeded"):
                continue
            if await self.payments.refund_by_processor_id(refund["id"]) is not None:
                continue
            payment = await self.payments.by_intent(refund.get("payment_intent") or intent_id or "")
            if payment is None or payment["status"] != "succeeded":
                continue
            self.work.entry.patient_id = payment["patient_id"]
            amount = from_minor(int(refund["amount"]), payment["currency"])
            if await self.payments.refunded(payment["id"], amount) is None:
                logger.warning(
                    "refund %s passes what is left of payment %s", refund["id"], payment["id"]
                )
                continue
            row = await self.payments.insert_refund(
                id=payment["id"],
                amount=amount,
                processor_refund_id=refund["id"],
                reason="Refunded at the processor",
                created_by=PROCESSOR_ACTOR,
            )
            await self.service.post_refund(payment, row, PROCESSOR_ACTOR, "processor")

    async def dispute(self, dispute: dict[str, Any]) -> None:
        """Flag the disputed payment for admins (the admin's payments page lists them)."""
        payment = await self.payments.by_intent(str(dispute.get("payment_intent") or ""))
        if payment is None:
            logger.warning("dispute %s of a payment the service does not know", dispute.get("id"))
            return
        self.work.entry.patient_id = payment["patient_id"]
        await self.payments.disputed(payment["id"], str(dispute.get("status") or "needs_response"))
        logger.warning("payment %s is disputed", payment["id"])


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isascii() and text.isdigit() else None

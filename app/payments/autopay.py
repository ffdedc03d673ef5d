"""Autopay: from AUTOPAY_HOUR of the clinic's day, `python -m app worker` charges the open
invoices of the patients who chose autopay to their default card, one invoice per charge.

Each charge is PaymentService.pay, as the patient's own (they chose it): the invoice is locked
and found open with nothing under way, so two workers, or a worker and the patient, never
charge it twice. A declined charge is tried again after AUTOPAY_RETRY_HOURS, doubled each time,
up to AUTOPAY_MAX_ATTEMPTS, and the patient is told by mail each time; a charge the bank wants
the patient to confirm (3-D Secure) is not tried again, and the patient is told to pay it.
"""

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from app.audit.actions import Action
from app.audit.service import AuditEntry
from app.auth.permissions import Principal
from app.core.config import Settings
from app.core.errors import AppError
from app.db.database import Database
from app.mail.mailer import Mailer, deliver
from app.mail.templates import render
from app.payments.payment_repository import PaymentRepository
from app.payments.payment_service import PaymentService
from app.payments.schemas import DueRow, PaymentCreate
from app.processor.client import Processor
from app.requests.work import UnitOfWork

logger = logging.getLogger(__name__)

ACTOR = "autopay"


class Autopay:
    def __init__(
        self,
        database: Database,
        mailer: Mailer,
        settings: Settings,
        processor: Processor,
        *,
        batch: int = 50,
    ) -> None:
        self.database = database
        self.mailer = mailer
        self.settings = settings
        self.processor = processor
        self.batch = batch

    async def cycle(self, now: datetime | None = None) -> Counter[str]:
        """Charge the invoices due now: how many were paid, declined, need the patient, or
        were skipped (paid or under way meanwhile)."""
        now = now or datetime.now(UTC)
        outcomes: Counter[str] = Counter()
        if (
            self.settings.payments_provider == "none"
            or now.astimezone(self.settings.clinic_zone).hour < self.settings.autopay_hour
        ):
            return outcomes
        due = await PaymentRepository(self.database).autopay_due(
            now, max_attempts=self.settings.autopay_max_attempts, limit=self.batch
        )
        for invoice in due:
            outcomes[await self.charge(invoice, now)] += 1
        return outcomes

    async def charge(self, invoice: DueRow, now: datetime) -> str:
        patient_id = invoice["patient_id"]
        entry = AuditEntry(
            action=Action.AUTOPAY_CHARGE,
            actor=ACTOR,
            actor_kind="system",
            patient_id=patient_id,
            client_address=None,
        )
        as_patient = Principal(kind="patient", id=patient_id, name=ACTOR, role="patient")
        try:
            async with UnitOfWork(self.database, entry, status_code=201) as work:
                paid = await PaymentService(work, self.settings, self.processor).pay(
                    PaymentCreate(invoices=[invoice["id"]], method="card"), as_patient
                )
        except AppError as error:
            logger.info("autopay of invoice %s skipped: %s", invoice["id"], type(error).__name__)
            return "skipped"
        status = paid.payment["status"]
        if status == "succeeded":
            return "paid"
        attempts = invoice["autopay_attempts"] + 1
        if status == "requires_action":
            attempts = self.settings.autopay_max_attempts  # the patient must pay it themself
        delay = timedelta(hours=self.settings.autopay_retry_hours * 2 ** (attempts - 1))
        await PaymentRepository(self.database).autopay_tried(
            invoice["id"], attempts=attempts, next_at=now + delay
        )
        if invoice["email"]:
            message = self._mail(invoice["email"], invoice, status, attempts, now + delay)
            await deliver(self.mailer, message, "autopay")
        return "needs_patient" if status == "requires_action" else "declined"

    def _mail(
        self, to: str, invoice: DueRow, status: str, attempts: int, next_at: datetime
    ) -> EmailMessage:
        values = {
            "number": invoice["number"] or invoice["id"],
            "amount": f"{invoice['amount_due']:.2f}",
            "currency": self.settings.currency,
        }
        if status == "requires_action":
            return render("autopay_needs_you", sender=self.settings.mail_from, to=to, **values)
        if attempts < self.settings.autopay_max_attempts:
            day = next_at.astimezone(self.settings.clinic_zone).date().isoformat()
            next_step = f"We will try again on {day}."
        else:
            next_step = "We will not try again on our own."
        return render(
            "autopay_failed",
            sender=self.settings.mail_from,
            to=to,
            next=next_step,
            **values,
        )

"""`python -m app payments-reconcile --since DATE`: post what the processor knows and the ledger
does not (the service was down longer than Stripe's retries, or stopped between a charge and
its commit), bring payments under way up to date, and report what does not match. Each
PaymentIntent is one audited transaction; a second run finds everything known and changes
nothing."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.audit.actions import Action
from app.audit.service import AuditEntry
from app.auth.commands import CLI_ACTOR_KIND, operator
from app.core.config import Settings
from app.db.database import open_database
from app.payments.payment_repository import PaymentRepository
from app.payments.webhooks import Webhooks
from app.processor.client import Processor, processor_for
from app.processor.money import from_minor
from app.requests.work import UnitOfWork


@dataclass
class Reconciled:
    checked: int = 0
    posted: list[str] = field(default_factory=list)  # intents the ledger did not know
    updated: list[str] = field(default_factory=list)  # payments brought up to date
    mismatches: list[str] = field(default_factory=list)


async def reconcile(
    settings: Settings, since: datetime, processor: Processor | None = None
) -> Reconciled:
    own = processor is None
    processor = processor or processor_for(settings)
    report = Reconciled()
    try:
        intents = await processor.list_intents(created_gte=int(since.timestamp()))
        async with open_database(settings) as database:
            for intent in intents:
                if "patient" not in intent.metadata:
                    continue  # not one of the service's
                report.checked += 1
                entry = AuditEntry(
                    action=Action.CLI_PAYMENTS_RECONCILE,
                    actor=operator(),
                    actor_kind=CLI_ACTOR_KIND,
                    patient_id=intent.metadata["patient"],
                    client_address=None,
                )
                async with UnitOfWork(database, entry) as work:
                    before = await PaymentRepository(work).by_intent(intent.id)
                    after = await Webhooks(work, settings, processor).intent(intent, None)
                if after is None:
                    if intent.status == "succeeded":
                        report.mismatches.append(
                            f"{intent.id}: succeeded at the processor for a patient the "
                            "service does not have; not posted"
                        )
                    continue
                if before is None and after["created_by"] == "stripe":
                    report.posted.append(intent.id)
                elif before is not None and before["status"] != after["status"]:
                    report.updated.append(intent.id)
                charged = from_minor(intent.amount_minor, intent.currency)
                if charged != after["amount"]:
                    report.mismatches.append(
                        f"{intent.id}: the processor has {charged}, payment {after['id']} "
                        f"{after['amount']}"
                    )
                if intent.status == "succeeded" and after["status"] != "succeeded":
                    report.mismatches.append(
                        f"{intent.id}: succeeded at the processor, payment {after['id']} is "
                        f"{after['status']}"
                    )
    finally:
        if own:
            await processor.aclose()
    return report


def since_date(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)

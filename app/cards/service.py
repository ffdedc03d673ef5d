"""The rules of cards on file. A card is saved in two steps: `setup` makes a SetupIntent (and
the patient's customer at the processor, the first time) and records the consent given; the
frontend confirms it with Stripe.js; then `complete` (or the webhook's `record_setup`) records
the card. Every write of a patient's cards runs under their customer row's lock, so a patient's
first card, and a change of default, leave exactly one default however the calls interleave."""

import uuid

from app.auth.permissions import Principal
from app.cards.repository import CardRepository
from app.cards.schemas import AutopayRow, CardRow, CardSetupRow
from app.core.config import Settings
from app.core.errors import NON_FIELD_ERRORS, NotFound, ValidationFailed
from app.processor.client import Processor
from app.processor.errors import PaymentsDisabled, ProcessorError
from app.processor.results import Setup
from app.requests.resources import found
from app.requests.work import UnitOfWork

# What the patient agrees to, shown by GET …/payment-methods/consent/ and recorded, word for
# word, with each setup. A new wording applies to the setups made after it.
CONSENT_TEMPLATE = (
    "I authorise {practice} to keep this card on file with its payment processor and to charge "
    "it, without asking me each time, for the invoices of my sessions, for missed-appointment "
    "and late-cancellation fees, and for the invoices I or the practice choose to pay with it, "
    "including by autopay if I turn it on. This authorisation lasts until I remove the card, "
    "which I can do at any time."
)
NOT_CONFIRMED = (
    "The card's setup is not confirmed yet (its status is {status}): confirm it with "
    "Stripe.js, then complete it."
)
NEEDS_DEFAULT_CARD = "Autopay needs a default card: save a card first."
# Stripe's code for an object it does not have (a card detached already).
RESOURCE_MISSING = "resource_missing"


def consent_text(settings: Settings) -> str:
    return CONSENT_TEMPLATE.format(practice=settings.practice_name)


class CardService:
    def __init__(self, work: UnitOfWork, processor: Processor, settings: Settings) -> None:
        self.work = work
        self.processor = processor
        self.settings = settings
        self.cards = CardRepository(work)

    def _enabled(self) -> None:
        """Card payments are on: else PaymentsDisabled's 400, before a setup or a card is looked
        for (none can be there)."""
        if self.settings.payments_provider == "none":
            raise PaymentsDisabled()

    async def consent(self, patient_id: str) -> str:
        """The consent text, for a patient who is there."""
        if not await self.work.completed_by(self.cards.patient_found(patient_id)):
            raise NotFound
        return consent_text(self.settings)

    async def setup(self, patient_id: str, actor: Principal) -> tuple[CardSetupRow, str]:
        """A SetupIntent for the patient, with the consent recorded: its row and client secret.

        In one transaction under the customer's lock, the processor's calls included: a
        patient's concurrent first setups make one customer between them."""
        self._enabled()
        await self.work.begin()
        customer = await self.cards.lock_customer(patient_id)
        if customer is None:
            raise NotFound
        customer_id = customer["customer_id"]
        if customer_id is None:
            customer_id = await self.processor.create_customer(
                patient_id=patient_id, idempotency_key=f"customer-{patient_id}"
            )
            await self.cards.set_customer(patient_id, customer_id)
        made = await self.processor.create_setup_intent(
            customer=customer_id,
            metadata={"patient_id": patient_id},
            idempotency_key=f"setup-{patient_id}-{uuid.uuid4().hex}",
        )
        if made.client_secret is None:
            raise ProcessorError("The payment processor gave the setup no client secret.")
        row = await self.work.completed_by(
            self.cards.insert_setup(
                patient_id, made.id, consent_text(self.settings), actor.name, actor.kind
            )
        )
        assert row is not None  # an INSERT … RETURNING answers its row
        return row, made.client_secret

    async def complete(self, patient_id: str, setup_intent_id: str) -> CardRow:
        """The card a confirmed setup of this patient saved, recorded (once: again, or after
        the webhook, it is the same card)."""
        self._enabled()
        row = await self.cards.patients_setup(patient_id, setup_intent_id)
        if row is None:
            raise NotFound
        await self.work.idle()
        setup = await self.processor.retrieve_setup_intent(setup_intent_id)
        if setup.status != "succeeded":
            raise ValidationFailed({NON_FIELD_ERRORS: [NOT_CONFIRMED.format(status=setup.status)]})
        return await self._record(row, setup)

    async def record_setup(self, setup: Setup) -> CardRow | None:
        """A SetupIntent that succeeded (the webhook's setup_intent.succeeded), its card
        recorded on the work given; None when the setup is none of ours or did not succeed."""
        row = await self.cards.setup(setup.id)
        if row is None or setup.status != "succeeded":
            return None
        return await self._record(row, setup)

    async def card_detached(self, processor_id: str) -> CardRow | None:
        """A card the processor detached (payment_method.detached): removed, no longer the
        default; None when no card kept has this id (removed here already, or not ours)."""
        return await self.cards.detached(processor_id)

    async def _record(self, row: CardSetupRow, setup: Setup) -> CardRow:
        if setup.payment_method is None:
            raise ProcessorError("The payment processor's setup names no card.")
        card = await self.processor.retrieve_card(setup.payment_method)
        await self.work.begin()
        await self.cards.lock_customer(row["patient_id"])
        saved = await self.cards.insert_card(
            patient_id=row["patient_id"],
            processor_id=card.id,
            setup_id=row["id"],
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )
        if saved is None:
            saved = await self.cards.card_by_processor_id(card.id)
            assert saved is not None  # the conflict's row, committed before our insert
        await self.cards.setup_completed(row["id"])
        return saved

    async def cards_of(self, patient_id: str) -> list[CardRow]:
        if not await self.cards.patient_found(patient_id):
            raise NotFound
        return await self.work.completed_by(self.cards.cards(patient_id))

    async def remove(self, patient_id: str, method_id: int) -> None:
        """Detach the card at the processor, then keep it as removed (no longer the default)."""
        self._enabled()
        card = await self.cards.card(patient_id, method_id)
        if card is None:
            raise NotFound
        await self.work.idle()
        try:
            await self.processor.detach_card(card["processor_id"])
        except ProcessorError as error:
            if error.code != RESOURCE_MISSING:  # detached already: removed here too
                raise
        found(await self.work.completed_by(self.cards.remove(patient_id, method_id)))

    async def make_default(self, patient_id: str, method_id: int) -> CardRow:
        await self.work.begin()
        if await self.cards.lock_customer(patient_id) is None:
            raise NotFound
        await self.cards.clear_default(patient_id, but=method_id)
        return found(await self.work.completed_by(self.cards.set_default(patient_id, method_id)))

    async def autopay(self, patient_id: str) -> AutopayRow:
        return found(await self.work.completed_by(self.cards.autopay(patient_id)))

    async def set_autopay(self, patient_id: str, enabled: bool, actor: Principal) -> AutopayRow:
        """Turn autopay on (only with a default card, and card payments enabled) or off."""
        if enabled:
            self._enabled()
        chosen = await self.work.completed_by(
            self.cards.set_autopay(patient_id, enabled, actor.name)
        )
        if chosen is not None:
            return chosen
        if not await self.cards.patient_found(patient_id):
            raise NotFound
        raise ValidationFailed.on("enabled", NEEDS_DEFAULT_CARD)

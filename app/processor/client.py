"""The Processor protocol, the one that refuses every call (PAYMENTS_PROVIDER=none), and
processor_for, which picks: Stripe's (app.processor.stripe_processor) is imported only when it is
the provider, so a service without card payments never loads the SDK.
"""

from collections.abc import Mapping
from typing import NoReturn, Protocol

from app.core.config import Settings
from app.processor.errors import PaymentsDisabled
from app.processor.results import Card, Event, Intent, Refund, Setup


class Processor(Protocol):
    """What the payments domain asks of a payment processor. Amounts are in minor units
    (app.processor.money); a declined charge answers an Intent whose status is `failed`."""

    async def create_customer(self, *, patient_id: str, idempotency_key: str) -> str: ...

    async def create_setup_intent(
        self, *, customer: str, metadata: Mapping[str, str], idempotency_key: str
    ) -> Setup: ...

    async def retrieve_setup_intent(self, setup_intent_id: str) -> Setup: ...

    async def retrieve_card(self, payment_method_id: str) -> Card: ...

    async def detach_card(self, payment_method_id: str) -> None: ...

    async def charge(
        self,
        *,
        amount_minor: int,
        currency: str,
        customer: str,
        payment_method: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> Intent: ...

    async def retrieve_intent(self, payment_intent_id: str) -> Intent: ...

    async def list_intents(self, *, created_gte: int) -> list[Intent]: ...

    async def refund(
        self,
        *,
        payment_intent: str,
        amount_minor: int,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> Refund: ...

    async def parse_event(self, payload: bytes, signature: str | None) -> Event: ...

    async def aclose(self) -> None:
        """Close the connections kept to the processor (the app's lifespan, at shutdown)."""
        ...


class DisabledProcessor:
    """PAYMENTS_PROVIDER=none: every call is refused with PaymentsDisabled (a 400)."""

    def __repr__(self) -> str:
        return "DisabledProcessor()"

    @staticmethod
    def _refuse() -> NoReturn:
        raise PaymentsDisabled()

    async def create_customer(self, *, patient_id: str, idempotency_key: str) -> str:
        self._refuse()

    async def create_setup_intent(
        self, *, customer: str, metadata: Mapping[str, str], idempotency_key: str
    ) -> Setup:
        self._refuse()

    async def retrieve_setup_intent(self, setup_intent_id: str) -> Setup:
        self._refuse()

    async def retrieve_card(self, payment_method_id: str) -> Card:
        self._refuse()

    async def detach_card(self, payment_method_id: str) -> None:
        self._refuse()

    async def charge(
        self,
        *,
        amount_minor: int,
        currency: str,
        customer: str,
        payment_method: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> Intent:
        self._refuse()

    async def retrieve_intent(self, payment_intent_id: str) -> Intent:
        self._refuse()

    async def list_intents(self, *, created_gte: int) -> list[Intent]:
        self._refuse()

    async def refund(
        self,
        *,
        payment_intent: str,
        amount_minor: int,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> Refund:
        self._refuse()

    async def parse_event(self, payload: bytes, signature: str | None) -> Event:
        self._refuse()

    async def aclose(self) -> None:
        return None


def processor_for(settings: Settings) -> Processor:
    """The processor PAYMENTS_PROVIDER names (the settings' validator has checked its keys)."""
    if settings.payments_provider == "none":
        return DisabledProcessor()
    if settings.stripe_secret_key is None or settings.stripe_webhook_secret is None:
        raise ValueError(
            "PAYMENTS_PROVIDER=stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET"
        )
    from app.processor.stripe_processor import StripeProcessor

    return StripeProcessor(
        secret_key=settings.stripe_secret_key,
        webhook_secret=settings.stripe_webhook_secret,
        api_base=settings.stripe_api_base,
        webhook_tolerance_seconds=settings.stripe_webhook_tolerance_seconds,
    )

"""The Processor over Stripe's API with the official SDK, imported only when PAYMENTS_PROVIDER is
stripe (app.processor.client.processor_for): the SDK costs a worker about 30 MiB.

Every create sends an idempotency key, so that the SDK's retries (and a retry of ours with the
same key) never make a second customer, SetupIntent, charge or refund at Stripe. The SDK's
`*_async` calls go through httpx: the event loop never waits on Stripe.
"""

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import stripe
from pydantic import SecretStr

from app.processor.errors import BadSignature, ProcessorError
from app.processor.results import (
    Card,
    Event,
    Intent,
    Refund,
    Setup,
    card_from,
    event_from,
    intent_from,
    refund_from,
    setup_from,
)

logger = logging.getLogger(__name__)
# The SDK logs each request's form body and each answer's body at DEBUG (a SetupIntent's
# client_secret, a customer's metadata): never, whatever LOG_LEVEL says.
logging.getLogger("stripe").setLevel(logging.INFO)

# Stripe's own default retries, made explicit: a POST is retried with the key it was sent with.
MAX_NETWORK_RETRIES = 2
TIMEOUT_SECONDS = 30.0
LIST_PAGE = 100


def _retryable(error: stripe.StripeError) -> bool:
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError):
        return True
    return error.http_status is not None and error.http_status >= 500


def _processor_error(operation: str, error: stripe.StripeError) -> ProcessorError:
    """Stripe's error as a ProcessorError: its type and code are logged, never its message or
    body (they may quote what was sent, or a key's last digits)."""
    code = error.code if isinstance(error.code, str) else None
    logger.warning(
        "stripe %s failed: %s (status %s, code %s, request %s)",
        operation,
        type(error).__name__,
        error.http_status,
        code,
        error.request_id,
    )
    return ProcessorError(code=code, retryable=_retryable(error))


@contextmanager
def _translated(operation: str) -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as error:
        raise _processor_error(operation, error) from None


class StripeProcessor:
    """The Processor over Stripe's API (or a test server at `api_base`, such as localstripe)."""

    def __init__(
        self,
        *,
        secret_key: SecretStr,
        webhook_secret: SecretStr,
        api_base: str | None = None,
        webhook_tolerance_seconds: int = 300,
    ) -> None:
        self._http = stripe.HTTPXClient(timeout=TIMEOUT_SECONDS)
        self._client = stripe.StripeClient(
            secret_key.get_secret_value(),
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=MAX_NETWORK_RETRIES,
        )
        self._webhook_secret = webhook_secret
        self._tolerance = webhook_tolerance_seconds

    def __repr__(self) -> str:
        return "StripeProcessor()"

    async def create_customer(self, *, patient_id: str, idempotency_key: str) -> str:
        with _translated("create customer"):
            customer = await self._client.v1.customers.create_async(
                {"metadata": {"patient_id": patient_id}},
                {"idempotency_key": idempotency_key},
            )
        return customer.id

    async def create_setup_intent(
        self, *, customer: str, metadata: Mapping[str, str], idempotency_key: str
    ) -> Setup:
        with _translated("create setup intent"):
            setup = await self._client.v1.setup_intents.create_async(
                {
                    "customer": customer,
                    "usage": "off_session",
                    "metadata": dict(metadata),
                },
                {"idempotency_key": idempotency_key},
            )
        return setup_from(setup.to_dict())

    async def retrieve_setup_intent(self, setup_intent_id: str) -> Setup:
        with _translated("retrieve setup intent"):
            setup = await self._client.v1.setup_intents.retrieve_async(setup_intent_id)
        return setup_from(setup.to_dict())

    async def retrieve_card(self, payment_method_id: str) -> Card:
        with _translated("retrieve payment method"):
            method = await self._client.v1.payment_methods.retrieve_async(payment_method_id)
        if method.type != "card":
            raise ProcessorError("The payment method is not a card.", code="not_a_card")
        return card_from(method.to_dict())

    async def detach_card(self, payment_method_id: str) -> None:
        with _translated("detach payment method"):
            await self._client.v1.payment_methods.detach_async(payment_method_id)

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
        try:
            intent = await self._client.v1.payment_intents.create_async(
                {
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "customer": customer,
                    "payment_method": payment_method,
                    "off_session": True,
                    "confirm": True,
                    "metadata": dict(metadata),
                },
                {"idempotency_key": idempotency_key},
            )
        except stripe.CardError as error:
            return await self._declined(error)
        except stripe.StripeError as error:
            raise _processor_error("create payment intent", error) from None
        return intent_from(intent.to_dict())

    async def _declined(self, error: stripe.CardError) -> Intent:
        """The PaymentIntent a card error left behind. Stripe puts it in the error (for a decline,
        and for `authentication_required`: 3-D Secure, which intent_from reads as requires_action);
        a server that names only the charge (localstripe) is asked for the charge's intent."""
        body = error.error.to_dict() if error.error is not None else {}
        intent = body.get("payment_intent")
        if isinstance(intent, Mapping) and intent.get("id"):
            last_error = intent.get("last_payment_error") or {
                "code": body.get("code"),
                "message": body.get("message"),
            }
            return intent_from({**intent, "last_payment_error": last_error})
        charge_id = body.get("charge")
        if not isinstance(charge_id, str):
            logger.warning("stripe charge declined, naming no payment intent (code %s)", error.code)
            raise ProcessorError(str(error.user_message or "The card was declined."))
        with _translated("retrieve charge"):
            charge = await self._client.v1.charges.retrieve_async(charge_id)
        intent_id = charge.to_dict().get("payment_intent")
        if not isinstance(intent_id, str):
            raise ProcessorError(code=error.code if isinstance(error.code, str) else None)
        return await self.retrieve_intent(intent_id)

    async def retrieve_intent(self, payment_intent_id: str) -> Intent:
        with _translated("retrieve payment intent"):
            intent = await self._client.v1.payment_intents.retrieve_async(payment_intent_id)
        return intent_from(intent.to_dict())

    async def list_intents(self, *, created_gte: int) -> list[Intent]:
        with _translated("list payment intents"):
            page = await self._client.v1.payment_intents.list_async(
                {"created": {"gte": created_gte}, "limit": LIST_PAGE}
            )
            return [intent_from(intent.to_dict()) async for intent in page.auto_paging_iter()]

    async def refund(
        self,
        *,
        payment_intent: str,
        amount_minor: int,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> Refund:
        with _translated("create refund"):
            refund = await self._client.v1.refunds.create_async(
                {
                    "payment_intent": payment_intent,
                    "amount": amount_minor,
                    "metadata": dict(metadata),
                },
                {"idempotency_key": idempotency_key},
            )
        return refund_from(refund.to_dict())

    async def parse_event(self, payload: bytes, signature: str | None) -> Event:
        if not signature:
            raise BadSignature("the Stripe-Signature header is missing.")
        try:
            event = self._client.construct_event(
                payload,
                signature,
                self._webhook_secret.get_secret_value(),
                tolerance=self._tolerance,
            )
        except stripe.SignatureVerificationError as error:
            if str(error.user_message or "").startswith("Timestamp outside the tolerance"):
                raise BadSignature(
                    f"the Stripe-Signature is older than {self._tolerance} seconds."
                ) from None
            raise BadSignature("the Stripe-Signature does not match the body.") from None
        except (ValueError, AttributeError):  # not UTF-8, not JSON, not an object, not v1
            raise BadSignature("the body is not a Stripe event.") from None
        try:
            return event_from(event.to_dict(for_json=True))
        except (KeyError, TypeError, ValueError):
            raise BadSignature("the body is not a Stripe event.") from None

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

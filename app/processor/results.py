"""What a processor call answers: frozen values read from Stripe's objects (as plain mappings,
`StripeObject.to_dict()` or an event's `data.object`), so that nothing past this package sees
the SDK."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# A payment's state, in the service's words. Stripe's statuses map onto it in intent_status().
IntentStatus = Literal["succeeded", "processing", "requires_action", "failed", "canceled"]
INTENT_STATUSES: tuple[IntentStatus, ...] = (
    "succeeded",
    "processing",
    "requires_action",
    "failed",
    "canceled",
)
# Stripe's off-session answer for a card that needs the patient's authentication (3-D Secure):
# the PaymentIntent is left in requires_payment_method with this code on its last error.
AUTHENTICATION_REQUIRED = "authentication_required"
DECLINED = "The payment was declined."


@dataclass(frozen=True, slots=True)
class Card:
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    customer: str | None


@dataclass(frozen=True, slots=True)
class Setup:
    """A SetupIntent: `status` is Stripe's own (requires_payment_method, requires_action,
    processing, canceled, succeeded, …); `client_secret` is for Stripe.js, never to be stored."""

    id: str
    status: str
    client_secret: str | None
    payment_method: str | None
    customer: str | None


@dataclass(frozen=True, slots=True)
class Intent:
    """A PaymentIntent. `requires_action`: the patient must finish it in the browser with
    `client_secret` (Stripe.js handleNextAction / confirmCardPayment). `failed`: declined or
    abandoned, with a message fit to show the patient. `currency` is upper case, as CURRENCY."""

    id: str
    status: IntentStatus
    amount_minor: int
    currency: str
    client_secret: str | None
    payment_method: str | None
    customer: str | None
    metadata: dict[str, str] = field(hash=False)
    created: int
    failure_message: str | None
    charge_id: str | None


@dataclass(frozen=True, slots=True)
class Refund:
    """`status` is Stripe's own: pending, requires_action, succeeded, failed or canceled."""

    id: str
    status: str
    amount_minor: int
    payment_intent: str | None


@dataclass(frozen=True, slots=True)
class Event:
    """A webhook's event, its signature checked. `data_object` is the object as Stripe sent it
    (JSON values only): read a PaymentIntent's with intent_from()."""

    id: str
    type: str
    created: int
    data_object: dict[str, Any] = field(hash=False)
    livemode: bool


def _id(value: Any) -> str | None:
    """An id Stripe may send bare or as the expanded object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) else None


def _metadata(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(key): str(item) for key, item in value.items()}


def card_from(payment_method: Mapping[str, Any]) -> Card:
    card = payment_method.get("card") or {}
    return Card(
        id=payment_method["id"],
        brand=str(card.get("brand") or "unknown"),
        last4=str(card.get("last4") or ""),
        exp_month=int(card.get("exp_month") or 0),
        exp_year=int(card.get("exp_year") or 0),
        customer=_id(payment_method.get("customer")),
    )


def setup_from(setup_intent: Mapping[str, Any]) -> Setup:
    return Setup(
        id=setup_intent["id"],
        status=str(setup_intent.get("status")),
        client_secret=setup_intent.get("client_secret"),
        payment_method=_id(setup_intent.get("payment_method")),
        customer=_id(setup_intent.get("customer")),
    )


def intent_status(payment_intent: Mapping[str, Any]) -> tuple[IntentStatus, str | None]:
    """The service's status of a PaymentIntent, and the failure's message when it failed.

    requires_capture (never asked for) is money held, not yet taken: processing. A status Stripe
    may add later is processing too: not final, not paid; the next event or a retrieve settles it.
    """
    status = payment_intent.get("status")
    error = payment_intent.get("last_payment_error") or {}
    if status == "succeeded":
        return "succeeded", None
    if status == "canceled":
        return "canceled", None
    if status in ("requires_action", "requires_confirmation"):
        return "requires_action", None
    if status == "requires_payment_method":
        if not error:
            return "requires_action", None  # made, never confirmed: Stripe.js can still pay it
        if error.get("code") == AUTHENTICATION_REQUIRED:
            return "requires_action", None
        return "failed", str(error.get("message") or DECLINED)
    return "processing", None


def _charge_id(payment_intent: Mapping[str, Any]) -> str | None:
    latest = _id(payment_intent.get("latest_charge"))
    if latest is not None:
        return latest
    charges = payment_intent.get("charges")  # API versions before 2022-11-15
    data = charges.get("data") if isinstance(charges, Mapping) else None
    return _id(data[0]) if data else None


def intent_from(payment_intent: Mapping[str, Any]) -> Intent:
    status, failure_message = intent_status(payment_intent)
    return Intent(
        id=payment_intent["id"],
        status=status,
        amount_minor=int(payment_intent["amount"]),
        currency=str(payment_intent.get("currency") or "").upper(),
        client_secret=payment_intent.get("client_secret"),
        payment_method=_id(payment_intent.get("payment_method")),
        customer=_id(payment_intent.get("customer")),
        metadata=_metadata(payment_intent.get("metadata")),
        created=int(payment_intent.get("created") or 0),
        failure_message=failure_message,
        charge_id=_charge_id(payment_intent),
    )


def refund_from(refund: Mapping[str, Any]) -> Refund:
    return Refund(
        id=refund["id"],
        status=str(refund.get("status")),
        amount_minor=int(refund["amount"]),
        payment_intent=_id(refund.get("payment_intent")),
    )


def event_from(event: Mapping[str, Any]) -> Event:
    """KeyError, TypeError or ValueError when `event` is not shaped as a Stripe event."""
    data_object = event["data"]["object"]
    if not isinstance(event["id"], str) or not isinstance(event["type"], str):
        raise TypeError("an event's id and type are strings")
    if not isinstance(data_object, dict):
        raise TypeError("an event's data.object is an object")
    return Event(
        id=event["id"],
        type=event["type"],
        created=int(event["created"]),
        data_object=data_object,
        livemode=bool(event.get("livemode", False)),
    )

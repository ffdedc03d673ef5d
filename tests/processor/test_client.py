"""The Stripe processor against a real localstripe server (tests/localstripe.py), with the real
SDK: saving a card, off-session charges (paid, 3-D Secure, declined), refunds, listing,
webhooks; Stripe's own answers that localstripe cannot give are fed to the same code."""

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from pydantic import SecretStr

from app.core.config import Settings
from app.processor import stripe_processor as client_module
from app.processor.client import DisabledProcessor, processor_for
from app.processor.errors import BadSignature, PaymentsDisabled, ProcessorError
from app.processor.results import intent_from
from app.processor.stripe_processor import StripeProcessor
from tests.localstripe import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    attach_card,
    confirm_setup,
    register_webhook,
    sign,
    webhook_receiver,
)

PAYS = "4242424242424242"
NEEDS_3DS = "4000000000003220"
DECLINED_LATER = "4000000000000341"


def make_processor(api_base: str, tolerance: int = 300) -> StripeProcessor:
    return StripeProcessor(
        secret_key=SecretStr(SECRET_KEY),
        webhook_secret=SecretStr(WEBHOOK_SECRET),
        api_base=api_base,
        webhook_tolerance_seconds=tolerance,
    )


@pytest.fixture
async def processor(localstripe: str):
    made = make_processor(localstripe)
    yield made
    await made.aclose()


@pytest.fixture
async def customer(processor: StripeProcessor) -> str:
    return await processor.create_customer(patient_id="p_abc123", idempotency_key="cus-test")


async def charge(processor: StripeProcessor, customer: str, card: str, amount: int = 1234):
    return await processor.charge(
        amount_minor=amount,
        currency="USD",
        customer=customer,
        payment_method=card,
        idempotency_key=f"charge-{time.monotonic_ns()}",
        metadata={"invoice": "inv_1"},
    )


async def test_a_customer_is_made(processor: StripeProcessor):
    made = await processor.create_customer(patient_id="p_abc123", idempotency_key="k-1")
    assert made.startswith("cus_")


async def test_a_card_is_saved_through_a_setup_intent(
    processor: StripeProcessor, customer: str, localstripe: str
):
    setup = await processor.create_setup_intent(
        customer=customer, metadata={"patient_id": "p_abc123"}, idempotency_key="seti-1"
    )
    assert (setup.status, setup.customer, setup.payment_method) == (
        "requires_payment_method",
        customer,
        None,
    )
    assert str(setup.client_secret).startswith(setup.id + "_secret_")

    method = await confirm_setup(localstripe, setup.id, PAYS, exp_month=7, exp_year=2031)

    confirmed = await processor.retrieve_setup_intent(setup.id)
    assert (confirmed.status, confirmed.payment_method) == ("succeeded", method)
    card = await processor.retrieve_card(method)
    assert (card.id, card.brand, card.last4, card.exp_month, card.exp_year, card.customer) == (
        method,
        "visa",
        "4242",
        7,
        2031,
        customer,
    )


async def test_an_off_session_charge_succeeds(
    processor: StripeProcessor, customer: str, localstripe: str
):
    card = await attach_card(localstripe, customer, PAYS)
    intent = await charge(processor, customer, card, amount=4500)
    assert intent.id.startswith("pi_")
    assert (intent.status, intent.amount_minor, intent.currency, intent.failure_message) == (
        "succeeded",
        4500,
        "USD",
        None,
    )
    assert (intent.customer, intent.payment_method, intent.metadata) == (
        customer,
        card,
        {"invoice": "inv_1"},
    )
    assert str(intent.charge_id).startswith("ch_")
    assert abs(intent.created - time.time()) < 60
    assert await processor.retrieve_intent(intent.id) == intent


async def test_a_card_needing_3d_secure_requires_action(
    processor: StripeProcessor, customer: str, localstripe: str
):
    card = await attach_card(localstripe, customer, NEEDS_3DS)
    intent = await charge(processor, customer, card)
    assert (intent.status, intent.failure_message, intent.charge_id) == (
        "requires_action",
        None,
        None,
    )
    assert str(intent.client_secret).startswith(intent.id + "_secret_")


async def test_a_declined_card_is_an_answer_with_a_message(
    processor: StripeProcessor, customer: str, localstripe: str
):
    card = await attach_card(localstripe, customer, DECLINED_LATER)
    intent = await charge(processor, customer, card)
    assert (intent.status, intent.failure_message) == ("failed", "Your card was declined.")
    assert intent.id.startswith("pi_")
    assert (await processor.retrieve_intent(intent.id)).status == "failed"


def card_error(code: str, message: str, payment_intent: dict[str, Any]) -> stripe.CardError:
    """The 402 Stripe answers an off-session confirm with (its API reference, "Errors")."""
    body = {
        "error": {
            "type": "card_error",
            "code": code,
            "message": message,
            "payment_intent": payment_intent,
        }
    }
    return stripe.CardError(message, None, code, json.dumps(body), 402, body)  # type: ignore[no-untyped-call]


def stripe_intent(**values: Any) -> dict[str, Any]:
    return {
        "id": "pi_3Real",
        "object": "payment_intent",
        "amount": 1234,
        "currency": "usd",
        "client_secret": "pi_3Real_secret_abc",
        "customer": "cus_Real",
        "payment_method": {"id": "pm_Real", "object": "payment_method"},
        "metadata": {"invoice": "inv_1"},
        "created": 1_700_000_000,
        "latest_charge": "ch_Real",
        "status": "requires_payment_method",
        **values,
    }


async def test_stripes_authentication_required_is_requires_action(processor: StripeProcessor):
    error = card_error(
        "authentication_required",
        "This payment required an authentication action to complete, but `error_on_requires_"
        "action` was set.",
        stripe_intent(last_payment_error={"code": "authentication_required", "type": "card_error"}),
    )
    intent = await processor._declined(error)
    assert (intent.id, intent.status, intent.client_secret, intent.failure_message) == (
        "pi_3Real",
        "requires_action",
        "pi_3Real_secret_abc",
        None,
    )
    assert (intent.payment_method, intent.charge_id) == ("pm_Real", "ch_Real")


async def test_stripes_decline_carries_its_intent(processor: StripeProcessor):
    error = card_error(
        "card_declined", "Your card has insufficient funds.", stripe_intent(last_payment_error=None)
    )
    intent = await processor._declined(error)
    assert (intent.status, intent.failure_message) == (
        "failed",
        "Your card has insufficient funds.",
    )


async def test_a_partial_refund(processor: StripeProcessor, customer: str, localstripe: str):
    paid = await charge(processor, customer, await attach_card(localstripe, customer, PAYS), 5000)
    refund = await processor.refund(
        payment_intent=paid.id, amount_minor=1500, idempotency_key="re-1", metadata={"r": "1"}
    )
    assert refund.id.startswith("re_")
    assert (refund.status, refund.amount_minor, refund.payment_intent) == (
        "succeeded",
        1500,
        paid.id,
    )


async def test_intents_are_listed_since_a_time_over_every_page(
    processor: StripeProcessor, customer: str, localstripe: str, monkeypatch: pytest.MonkeyPatch
):
    card = await attach_card(localstripe, customer, PAYS)
    before = await charge(processor, customer, card)
    await asyncio.sleep(before.created + 1 - time.time())  # the next second: created is in seconds
    since = [await charge(processor, customer, card, amount) for amount in (100, 200, 300)]
    monkeypatch.setattr(client_module, "LIST_PAGE", 2)

    listed = await processor.list_intents(created_gte=since[0].created)

    ids = [intent.id for intent in listed]
    assert before.id not in ids
    assert {intent.id for intent in since} <= set(ids)
    assert len(ids) == len(set(ids))
    assert before.id in {i.id for i in await processor.list_intents(created_gte=before.created)}


async def test_a_detached_card_belongs_to_nobody(
    processor: StripeProcessor, customer: str, localstripe: str
):
    card = await attach_card(localstripe, customer, PAYS)
    await processor.detach_card(card)
    assert (await processor.retrieve_card(card)).customer is None


async def test_a_processor_error_is_typed_and_quotes_no_key(
    processor: StripeProcessor, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProcessorError) as raised:
        await processor.retrieve_intent("pi_nobodyhasthis")
    assert (raised.value.status_code, raised.value.retryable) == (502, False)
    assert raised.value.body() == {"detail": "The payment processor did not complete the request."}
    assert SECRET_KEY not in caplog.text
    assert "stripe retrieve payment intent failed: InvalidRequestError" in caplog.text


async def test_an_unreachable_processor_is_a_retryable_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(stripe._http_client.HTTPClient, "_sleep_time_seconds", lambda *_: 0)
    unreachable = make_processor("http://127.0.0.1:9")
    try:
        with pytest.raises(ProcessorError) as raised:
            await unreachable.create_customer(patient_id="p_abc123", idempotency_key="k")
    finally:
        await unreachable.aclose()
    assert raised.value.retryable
    assert SECRET_KEY not in str(raised.value)


def event_payload(**values: Any) -> bytes:
    event = {
        "id": "evt_1Test",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": stripe_intent(status="succeeded")},
        **values,
    }
    return json.dumps(event).encode()


async def test_a_signed_event_is_parsed(processor: StripeProcessor):
    payload = event_payload()
    event = await processor.parse_event(payload, sign(payload))
    assert (event.id, event.type, event.livemode) == (
        "evt_1Test",
        "payment_intent.succeeded",
        False,
    )
    assert event.data_object["id"] == "pi_3Real"
    assert intent_from(event.data_object).status == "succeeded"


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        (None, "Webhook refused: the Stripe-Signature header is missing."),
        ("", "Webhook refused: the Stripe-Signature header is missing."),
        ("t=1,v1=0000", "Webhook refused: the Stripe-Signature does not match the body."),
        ("nonsense", "Webhook refused: the Stripe-Signature does not match the body."),
    ],
)
async def test_a_missing_or_malformed_signature_is_refused(
    processor: StripeProcessor, signature: str | None, message: str
):
    with pytest.raises(BadSignature) as raised:
        await processor.parse_event(event_payload(), signature)
    assert (raised.value.status_code, raised.value.body()) == (400, {"non_field_errors": [message]})


async def test_a_forged_signature_is_refused(processor: StripeProcessor):
    payload = event_payload()
    forged = sign(payload, secret="whsec_someone_else")
    tampered = event_payload(type="charge.refunded")
    for body, signature in ((payload, forged), (tampered, sign(payload))):
        with pytest.raises(BadSignature) as raised:
            await processor.parse_event(body, signature)
        assert "does not match" in str(raised.value.errors)
        assert WEBHOOK_SECRET not in str(raised.value.errors)


async def test_a_stale_signature_is_refused(localstripe: str):
    strict = make_processor(localstripe, tolerance=60)
    payload = event_payload()
    try:
        await strict.parse_event(payload, sign(payload, timestamp=int(time.time()) - 50))
        with pytest.raises(BadSignature) as raised:
            await strict.parse_event(payload, sign(payload, timestamp=int(time.time()) - 70))
    finally:
        await strict.aclose()
    assert raised.value.errors == {
        "non_field_errors": ["Webhook refused: the Stripe-Signature is older than 60 seconds."]
    }


@pytest.mark.parametrize("payload", [b"not json", b"\xff\xfe", b'{"object": "event"}', b"[]"])
async def test_a_signed_body_that_is_no_event_is_refused(processor: StripeProcessor, payload):
    signature = sign(payload)
    with pytest.raises(BadSignature) as raised:
        await processor.parse_event(payload, signature)
    assert raised.value.reason == "the body is not a Stripe event."


async def test_a_webhook_localstripe_sends_is_verified(
    processor: StripeProcessor, customer: str, localstripe: str
):
    card = await attach_card(localstripe, customer, PAYS)
    with webhook_receiver() as receiver:
        await register_webhook(localstripe, "processor-test", receiver.url, WEBHOOK_SECRET)
        paid = await charge(processor, customer, card)
        deadline = time.monotonic() + 15
        while (delivery := receiver.find("payment_intent.succeeded", paid.id)) is None:
            assert time.monotonic() < deadline, "localstripe sent no payment_intent.succeeded"
            await asyncio.sleep(0.1)
    event = await processor.parse_event(delivery.body, delivery.signature)
    assert event.id.startswith("evt_")
    assert event.type == "payment_intent.succeeded"
    received = intent_from(event.data_object)
    assert (received.id, received.status, received.amount_minor) == (paid.id, "succeeded", 1234)


async def test_the_disabled_processor_refuses_every_call():
    disabled = DisabledProcessor()
    calls = [
        disabled.create_customer(patient_id="p_abc123", idempotency_key="k"),
        disabled.create_setup_intent(customer="cus_1", metadata={}, idempotency_key="k"),
        disabled.retrieve_setup_intent("seti_1"),
        disabled.retrieve_card("pm_1"),
        disabled.detach_card("pm_1"),
        disabled.charge(
            amount_minor=1,
            currency="USD",
            customer="cus_1",
            payment_method="pm_1",
            idempotency_key="k",
            metadata={},
        ),
        disabled.retrieve_intent("pi_1"),
        disabled.list_intents(created_gte=0),
        disabled.refund(payment_intent="pi_1", amount_minor=1, idempotency_key="k", metadata={}),
        disabled.parse_event(b"{}", "t=1,v1=0"),
    ]
    for call in calls:
        with pytest.raises(PaymentsDisabled) as raised:
            await call
        assert raised.value.status_code == 400
        assert "PAYMENTS_PROVIDER=none" in raised.value.errors["non_field_errors"][0]
    await disabled.aclose()


async def test_the_provider_setting_picks_the_processor(tmp_path: Path, localstripe: str):
    base = Settings(_env_file=None, environment="test", data_dir=tmp_path)
    assert isinstance(processor_for(base), DisabledProcessor)
    stripe_on = processor_for(
        base.model_copy(
            update={
                "payments_provider": "stripe",
                "stripe_secret_key": SecretStr(SECRET_KEY),
                "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
                "stripe_api_base": localstripe,
            }
        )
    )
    assert isinstance(stripe_on, StripeProcessor)
    assert SECRET_KEY not in repr(stripe_on)
    try:
        assert (await stripe_on.create_customer(patient_id="p_x", idempotency_key="k")).startswith(
            "cus_"
        )
    finally:
        await stripe_on.aclose()


async def test_every_create_sends_its_idempotency_key(
    processor: StripeProcessor, customer: str, localstripe: str
):
    """localstripe ignores the header (two creates with one key make two objects), so the
    requests themselves are looked at: Stripe keeps the key's first answer for 24 hours."""
    sent: dict[str, str | None] = {}

    async def record(request: httpx.Request) -> None:
        if request.method == "POST":
            sent[request.url.path] = request.headers.get("Idempotency-Key")

    processor._http._client_async.event_hooks["request"].append(record)
    card = await attach_card(localstripe, customer, PAYS)
    await processor.create_customer(patient_id="p_abc123", idempotency_key="key-customer")
    await processor.create_setup_intent(customer=customer, metadata={}, idempotency_key="key-setup")
    paid = await processor.charge(
        amount_minor=700,
        currency="USD",
        customer=customer,
        payment_method=card,
        idempotency_key="key-charge",
        metadata={},
    )
    await processor.refund(
        payment_intent=paid.id, amount_minor=100, idempotency_key="key-refund", metadata={}
    )
    assert sent == {
        "/v1/customers": "key-customer",
        "/v1/setup_intents": "key-setup",
        "/v1/payment_intents": "key-charge",
        "/v1/refunds": "key-refund",
    }

"""Stripe's PaymentIntent statuses in the service's five, from the objects Stripe sends."""

import pytest

from app.processor.results import INTENT_STATUSES, intent_from, intent_status


@pytest.mark.parametrize(
    ("stripe_status", "last_error", "status", "message"),
    [
        ("succeeded", None, "succeeded", None),
        ("processing", None, "processing", None),
        ("requires_capture", None, "processing", None),
        ("a_status_stripe_adds_later", None, "processing", None),
        ("requires_action", None, "requires_action", None),
        ("requires_confirmation", None, "requires_action", None),
        ("requires_payment_method", None, "requires_action", None),
        (
            "requires_payment_method",
            {"code": "authentication_required", "message": "Needs 3-D Secure."},
            "requires_action",
            None,
        ),
        (
            "requires_payment_method",
            {"code": "card_declined", "message": "Your card was declined."},
            "failed",
            "Your card was declined.",
        ),
        (
            "requires_payment_method",
            {"code": "expired_card"},
            "failed",
            "The payment was declined.",
        ),
        ("canceled", None, "canceled", None),
    ],
)
def test_intent_status(stripe_status, last_error, status, message):
    assert status in INTENT_STATUSES
    intent = {"status": stripe_status, "last_payment_error": last_error}
    assert intent_status(intent) == (status, message)


def test_an_intent_reads_ids_bare_or_expanded_and_old_charges():
    intent = intent_from(
        {
            "id": "pi_1",
            "status": "succeeded",
            "amount": 500,
            "currency": "eur",
            "customer": {"id": "cus_1", "object": "customer"},
            "payment_method": "pm_1",
            "metadata": {"n": 1},
            "created": 1_700_000_000,
            "charges": {"object": "list", "data": [{"id": "ch_1"}]},
        }
    )
    assert (intent.customer, intent.payment_method, intent.charge_id) == ("cus_1", "pm_1", "ch_1")
    assert (intent.currency, intent.metadata, intent.client_secret) == ("EUR", {"n": "1"}, None)

"""Stripe's webhook: signed on the raw body, applied exactly once, never backwards, and the
events localstripe sends itself accepted as they come."""

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from tests.cards.test_routes import save_card
from tests.factories import create_patient
from tests.invoices.conftest import ledger_total
from tests.localstripe import WEBHOOK_SECRET, register_webhook, sign, webhook_receiver
from tests.payments.test_cards import issued, pay, secure_card

URL = "/api/payments/stripe/webhook/"


def event(kind: str, data_object: dict[str, Any], created: int | None = None) -> bytes:
    return json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "type": kind,
            "created": created or int(time.time()),
            "livemode": False,
            "data": {"object": data_object},
        }
    ).encode()


async def deliver(
    anonymous: httpx.AsyncClient, body: bytes, signature: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Stripe-Signature": signature or sign(body)}
    return await anonymous.post(URL, content=body, headers=headers)


async def recorded(engine: Any) -> int:
    async with engine.connect() as connection:
        count: int = await connection.scalar(text("SELECT count(*) FROM processor_events"))
    return count


async def intent_at(base: str, intent_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": "Bearer sk_test_localstripe"}
    ) as http:
        found: dict[str, Any] = (await http.get(f"/v1/payment_intents/{intent_id}")).json()
    return found


async def waiting_payment(client, stripe, engine) -> tuple[dict[str, Any], dict[str, Any]]:
    """A payment that waits on 3-D Secure, which the patient then finishes at Stripe: the
    payment, and its PaymentIntent as Stripe now has it (succeeded)."""
    patient = await create_patient(client)
    await secure_card(client, stripe, engine, patient["id"])
    invoice = await issued(client, patient["id"])
    payment = (await pay(client, invoice["id"])).json()
    action = payment["next_action"]
    async with httpx.AsyncClient(base_url=stripe) as http:
        await http.post(
            f"/v1/payment_intents/{action['payment_intent']}/_authenticate",
            data={"client_secret": action["client_secret"], "success": "true", "key": "pk_test"},
        )
    return payment, await intent_at(stripe, action["payment_intent"])


async def test_a_succeeded_intent_is_applied_once_whatever_the_replays(
    client, anonymous, stripe, engine
):
    payment, intent = await waiting_payment(client, stripe, engine)
    body = event("payment_intent.succeeded", intent)

    first = await deliver(anonymous, body)
    replays = await asyncio.gather(*(deliver(anonymous, body) for _ in range(5)))

    assert (first.status_code, first.json()["outcome"]) == (200, "applied")
    assert [r.json()["outcome"] for r in replays] == ["duplicate"] * 5
    now = (await client.get(f"/api/payments/{payment['id']}/")).json()
    assert now["status"] == "succeeded"
    invoice = payment["invoices"][0]["invoice"]
    assert (await client.get(f"/api/invoices/{invoice}/")).json()["status"] == "paid"
    async with engine.connect() as connection:
        posted = await connection.scalar(
            text("SELECT count(*) FROM ledger_transactions WHERE payment_id = :p"),
            {"p": payment["id"]},
        )
    assert posted == 1
    assert await ledger_total(engine) == 0


async def test_an_older_event_never_moves_a_payment_back(client, anonymous, stripe, engine):
    payment, intent = await waiting_payment(client, stripe, engine)
    now = int(time.time())
    failed = {**intent, "status": "requires_payment_method",
              "last_payment_error": {"message": "Your card was declined."}}  # fmt: skip

    applied = await deliver(anonymous, event("payment_intent.succeeded", intent, now))
    late = await deliver(anonymous, event("payment_intent.payment_failed", failed, now - 60))

    assert applied.json()["outcome"] == late.json()["outcome"] == "applied"
    assert (await client.get(f"/api/payments/{payment['id']}/")).json()["status"] == "succeeded"
    assert await ledger_total(engine) == 0


async def test_events_out_of_order_keep_the_newest_state(client, anonymous, stripe, engine):
    patient = await create_patient(client)
    await secure_card(client, stripe, engine, patient["id"])
    invoice = await issued(client, patient["id"])
    payment = (await pay(client, invoice["id"])).json()
    intent = await intent_at(stripe, payment["next_action"]["payment_intent"])
    now = int(time.time())
    failed = {**intent, "status": "requires_payment_method",
              "last_payment_error": {"message": "Your card was declined."}}  # fmt: skip

    await deliver(anonymous, event("payment_intent.payment_failed", failed, now))
    older = await deliver(anonymous, event("payment_intent.requires_action", intent, now - 30))

    assert older.status_code == 200
    read = (await client.get(f"/api/payments/{payment['id']}/")).json()
    assert (read["status"], read["failure_message"]) == ("failed", "Your card was declined.")
    # The invoice is free to be paid again.
    assert (await client.get(f"/api/invoices/{invoice['id']}/")).json()["status"] == "open"


async def test_a_bad_stale_or_missing_signature_is_a_400_that_changes_nothing(
    client, anonymous, stripe, engine
):
    payment, intent = await waiting_payment(client, stripe, engine)
    body = event("payment_intent.succeeded", intent)

    forged = await deliver(anonymous, body, sign(body, "whsec_someone_else"))
    stale = await deliver(anonymous, body, sign(body, timestamp=int(time.time()) - 3600))
    tampered = await deliver(anonymous, body.replace(b"succeeded", b"succeedee"), sign(body))
    missing = await anonymous.post(URL, content=body, headers={"Content-Type": "application/json"})

    assert [r.status_code for r in (forged, stale, tampered, missing)] == [400] * 4
    assert all("non_field_errors" in r.json() for r in (forged, stale, tampered, missing))
    assert "whsec" not in forged.text
    assert await recorded(engine) == 0
    read = (await client.get(f"/api/payments/{payment['id']}/")).json()
    assert read["status"] == "requires_action"


async def test_a_refund_made_at_the_processor_is_posted_once(client, anonymous, stripe, engine):
    patient = await create_patient(client)
    await save_card(client, stripe, patient["id"])
    invoice = await issued(client, patient["id"], "40.00")
    payment = (await pay(client, invoice["id"])).json()
    intent_id = (await client.get(f"/api/payments/{payment['id']}/")).json()
    async with engine.connect() as connection:
        intent_id = await connection.scalar(
            text("SELECT processor_intent_id FROM payments WHERE id = :p"), {"p": payment["id"]}
        )
    refund = {"id": f"re_{uuid.uuid4().hex[:14]}", "object": "refund", "amount": 1500,
              "status": "succeeded", "payment_intent": intent_id}  # fmt: skip
    charge = {"id": "ch_x", "object": "charge", "payment_intent": intent_id,
              "refunds": {"data": [refund]}}  # fmt: skip

    first = await deliver(anonymous, event("charge.refunded", charge))
    again = await deliver(anonymous, event("refund.created", refund))
    too_much = {**refund, "id": "re_toomuch", "amount": 9000}
    past = await deliver(anonymous, event("refund.created", too_much))

    assert [r.status_code for r in (first, again, past)] == [200] * 3
    read = (await client.get(f"/api/payments/{payment['id']}/")).json()
    assert read["amount_refunded"] == "15.00"
    assert await ledger_total(engine) == 0


async def test_a_dispute_flags_the_payment(client, anonymous, stripe, engine):
    patient = await create_patient(client)
    await save_card(client, stripe, patient["id"])
    invoice = await issued(client, patient["id"], "40.00")
    payment = (await pay(client, invoice["id"])).json()
    async with engine.connect() as connection:
        intent_id = await connection.scalar(
            text("SELECT processor_intent_id FROM payments WHERE id = :p"), {"p": payment["id"]}
        )
    dispute = {"id": "dp_1", "object": "dispute", "payment_intent": intent_id,
               "status": "needs_response", "amount": 4000}  # fmt: skip

    response = await deliver(anonymous, event("charge.dispute.created", dispute))

    assert response.json()["outcome"] == "applied"
    assert (await client.get(f"/api/payments/{payment['id']}/")).json()["disputed"] is True


async def test_an_event_of_another_type_is_a_200_and_ignored(anonymous, stripe, engine):
    response = await deliver(anonymous, event("customer.created", {"id": "cus_1"}))

    assert (response.status_code, response.json()["outcome"]) == (200, "ignored")
    assert await recorded(engine) == 1


async def test_the_events_localstripe_signs_and_sends_are_applied(
    client, anonymous, stripe, engine
):
    with webhook_receiver() as receiver:
        await register_webhook(stripe, "tests", receiver.url, WEBHOOK_SECRET)
        patient = await create_patient(client)
        await save_card(client, stripe, patient["id"])
        invoice = await issued(client, patient["id"])
        payment = (await pay(client, invoice["id"])).json()
        async with engine.connect() as connection:
            intent_id = await connection.scalar(
                text("SELECT processor_intent_id FROM payments WHERE id = :p"),
                {"p": payment["id"]},
            )
        delivery = None
        for _ in range(100):
            delivery = receiver.find("payment_intent.succeeded", intent_id)
            if delivery is not None:
                break
            await asyncio.sleep(0.05)
    assert delivery is not None

    response = await deliver(anonymous, delivery.body, delivery.signature)
    replay = await deliver(anonymous, delivery.body, delivery.signature)

    assert (response.status_code, response.json()["outcome"]) == (200, "applied")
    assert replay.json()["outcome"] == "duplicate"
    assert (await client.get(f"/api/payments/{payment['id']}/")).json()["status"] == "succeeded"
    assert await ledger_total(engine) == 0


async def test_without_a_processor_the_webhook_is_a_400(anonymous, engine):
    body = event("payment_intent.succeeded", {"id": "pi_1"})

    response = await deliver(anonymous, body)

    assert response.status_code == 400
    assert await recorded(engine) == 0

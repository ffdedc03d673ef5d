"""Card payments against localstripe with the official SDK: paid, 3-D Secure, declined, twenty
attempts at once charging once, refunds through the processor, a charge whose commit was lost
posted by reconciliation."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from app.payments.commands import reconcile
from app.payments.payment_service import PaymentService
from tests.cards.test_routes import save_card
from tests.factories import create_patient
from tests.invoices.conftest import issued as issue_one
from tests.invoices.conftest import ledger_total, priced
from tests.localstripe import attach_card

SECURE = "4000000000003220"  # 3-D Secure on every payment
DECLINED = "4000000000000341"  # attaches, then every charge is declined


async def issued(client: httpx.AsyncClient, patient_id: str, price: str = "80.00") -> Any:
    return await issue_one(client, patient_id, priced("Session", price))


async def intents_of(base: str, patient_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": "Bearer sk_test_localstripe"}
    ) as http:
        listed = (await http.get("/v1/payment_intents", params={"limit": 100})).json()
    return [i for i in listed["data"] if (i.get("metadata") or {}).get("patient") == patient_id]


async def pay(client: httpx.AsyncClient, *invoice_ids: int, **more: Any) -> httpx.Response:
    return await client.post(
        "/api/payments/", json={"invoices": list(invoice_ids), "method": "card", **more}
    )


async def test_a_card_on_file_pays_two_invoices_in_one_payment(client, stripe, engine):
    patient = await create_patient(client)
    card = await save_card(client, stripe, patient["id"])
    first, second = await issued(client, patient["id"]), await issued(client, patient["id"], "20")

    response = await pay(client, first["id"], second["id"])

    assert response.status_code == 201, response.text
    payment = response.json()
    assert (payment["status"], payment["amount"], payment["payment_method"]) == (
        "succeeded",
        "100.00",
        card["id"],
    )
    assert payment["next_action"] is None
    intents = await intents_of(stripe, patient["id"])
    assert [(i["amount"], i["status"], i["metadata"]["payment"]) for i in intents] == [
        (10000, "succeeded", str(payment["id"]))
    ]
    for invoice in (first, second):
        assert (await client.get(f"/api/invoices/{invoice['id']}/")).json()["status"] == "paid"
    assert await ledger_total(engine) == 0


async def secure_card(client: httpx.AsyncClient, base: str, engine: Any, patient_id: str) -> None:
    """A card that asks for 3-D Secure on every payment, saved on file (localstripe asks for it
    on the setup too, which Stripe.js would have shown the patient)."""
    card = await save_card(client, base, patient_id)
    async with engine.begin() as connection:
        customer = await connection.scalar(
            text("SELECT customer_id FROM processor_customers WHERE patient_id = :p"),
            {"p": patient_id},
        )
        secure = await attach_card(base, customer, SECURE)
        await connection.execute(
            text("UPDATE payment_methods SET processor_id = :pm WHERE id = :id"),
            {"pm": secure, "id": card["id"]},
        )


async def test_three_d_secure_is_answered_with_what_finishes_it(
    client, stripe, patient_client, engine
):
    patient = await create_patient(client)
    await secure_card(client, stripe, engine, patient["id"])
    invoice = await issued(client, patient["id"])
    own = await patient_client(patient["id"])

    response = await pay(own, invoice["id"])

    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["status"] == "requires_action"
    action = payment["next_action"]
    assert action["type"] == "use_stripe_sdk"
    assert action["client_secret"]
    assert action["payment_intent"].startswith("pi_")
    again = await pay(own, invoice["id"])
    assert again.status_code == 409
    assert (await client.get(f"/api/invoices/{invoice['id']}/")).json()["status"] == "open"

    # The patient finishes 3-D Secure in the browser (Stripe.js); the service asks Stripe.
    async with httpx.AsyncClient(base_url=stripe) as http:
        done = await http.post(
            f"/v1/payment_intents/{action['payment_intent']}/_authenticate",
            data={"client_secret": action["client_secret"], "success": "true", "key": "pk_test"},
        )
        done.raise_for_status()
    refreshed = await own.post(f"/api/payments/{payment['id']}/refresh/")

    assert (refreshed.status_code, refreshed.json()["status"]) == (200, "succeeded")
    assert (await client.get(f"/api/invoices/{invoice['id']}/")).json()["status"] == "paid"


async def test_a_declined_card_fails_and_the_invoice_stays_open(client, stripe, engine):
    patient = await create_patient(client)
    await save_card(client, stripe, patient["id"], DECLINED)
    invoice = await issued(client, patient["id"])

    response = await pay(client, invoice["id"])

    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["status"] == "failed"
    assert payment["failure_message"]
    assert (await client.get(f"/api/invoices/{invoice['id']}/")).json()["amount_due"] == "80.00"
    assert (await pay(client, invoice["id"])).status_code == 201  # another attempt may be made
    assert await ledger_total(engine) == 0


async def test_twenty_card_payments_of_one_invoice_at_once_make_one_payment_intent(
    client, stripe, engine
):
    patient = await create_patient(client)
    await save_card(client, stripe, patient["id"])
    invoice = await issued(client, patient["id"], "45.00")

    responses = await asyncio.gather(*(pay(client, invoice["id"]) for _ in range(20)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1, statuses
    assert set(statuses) <= {201, 400, 409}
    assert len(await intents_of(stripe, patient["id"])) == 1
    async with engine.connect() as connection:
        posted = await connection.scalar(
            text(
                "SELECT count(*) FROM ledger_transactions t JOIN payments p ON p.id = t.payment_id"
                " WHERE p.patient_id = :p AND t.kind = 'payment'"
            ),
            {"p": patient["id"]},
        )
    assert posted == 1
    assert await ledger_total(engine) == 0


async def test_a_card_refund_goes_through_the_processor(client, stripe, engine):
    patient = await create_patient(client)
    await save_card(client, stripe, patient["id"])
    invoice = await issued(client, patient["id"], "50.00")
    payment = (await pay(client, invoice["id"])).json()

    refund = await client.post(f"/api/payments/{payment['id']}/refund/", json={"amount": "30"})
    past = await client.post(f"/api/payments/{payment['id']}/refund/", json={"amount": "20.01"})

    assert refund.status_code == 201, refund.text
    assert past.status_code == 400
    async with httpx.AsyncClient(
        base_url=stripe, headers={"Authorization": "Bearer sk_test_localstripe"}
    ) as http:
        refunds = (await http.get("/v1/refunds", params={"limit": 100})).json()["data"]
    intent = (await intents_of(stripe, patient["id"]))[0]["id"]
    assert [r["amount"] for r in refunds if r["payment_intent"] == intent] == [3000]
    assert await ledger_total(engine) == 0


async def test_a_charge_whose_commit_was_lost_is_posted_by_reconciliation(
    app, client, stripe, engine, monkeypatch
):
    patient = await create_patient(client)
    await save_card(client, stripe, patient["id"])
    invoice = await issued(client, patient["id"], "65.00")
    since = datetime.now(UTC) - timedelta(minutes=1)

    async def killed(*args: Any, **kwargs: Any) -> Any:
        raise SystemError("the process died between the processor's success and the commit")

    with monkeypatch.context() as patched:
        patched.setattr(PaymentService, "apply_intent", killed)
        lost = await pay(client, invoice["id"])
    assert lost.status_code == 500
    assert (await client.get(f"/api/invoices/{invoice['id']}/")).json()["status"] == "open"
    assert [i["status"] for i in await intents_of(stripe, patient["id"])] == ["succeeded"]

    first = await reconcile(app.state.settings, since, app.state.processor)
    second = await reconcile(app.state.settings, since, app.state.processor)

    intent = (await intents_of(stripe, patient["id"]))[0]["id"]
    assert intent in first.posted
    assert intent not in second.posted + second.updated
    after = (await client.get(f"/api/invoices/{invoice['id']}/")).json()
    assert (after["status"], after["amount_paid"]) == ("paid", "65.00")
    payments = (await client.get("/api/payments/", params={"patient": patient["id"]})).json()
    assert payments["count"] == 1
    assert await ledger_total(engine) == 0


async def test_an_invoice_with_a_payment_under_way_is_neither_voided_nor_written_off(
    client, stripe, engine
):
    patient = await create_patient(client)
    await secure_card(client, stripe, engine, patient["id"])
    invoice = await issued(client, patient["id"])
    assert (await pay(client, invoice["id"])).json()["status"] == "requires_action"

    void = await client.post(f"/api/invoices/{invoice['id']}/void/", json={})
    write_off = await client.post(f"/api/invoices/{invoice['id']}/write_off/", json={})

    assert (void.status_code, write_off.status_code) == (409, 409)
    assert "under way" in void.json()["detail"]


async def test_a_wallet_top_up_by_card_fills_the_wallet(client, stripe, patient_client, engine):
    patient = await create_patient(client)
    await save_card(client, stripe, patient["id"])
    own = await patient_client(patient["id"])

    response = await own.post(
        f"/api/patients/{patient['id']}/wallet/top_up/", json={"amount": "35.00"}
    )

    assert response.status_code == 201, response.text
    assert (response.json()["purpose"], response.json()["status"]) == ("wallet_topup", "succeeded")
    assert (await own.get(f"/api/patients/{patient['id']}/")).json()["wallet_balance"] == "35.00"
    history = (await own.get(f"/api/patients/{patient['id']}/wallet_transactions/")).json()
    assert [(row["amount"], row["balance_after"]) for row in history["results"]] == [
        ("35.00", "35.00")
    ]
    other = await create_patient(client)
    foreign = await own.post(f"/api/patients/{other['id']}/wallet/top_up/", json={"amount": "5"})
    assert foreign.status_code == 403
    too_little = await own.post(
        f"/api/patients/{patient['id']}/wallet/top_up/", json={"amount": "0.10"}
    )
    assert too_little.status_code == 400
    assert await ledger_total(engine) == 0

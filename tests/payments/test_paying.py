"""Paying invoices by hand and from the wallet, refunds, and the one-charge guarantee, through
the API; the ledger sums to zero after each."""

import asyncio
from typing import Any

import httpx
from sqlalchemy import text

from tests.factories import create_patient
from tests.invoices.conftest import issued as issue_one
from tests.invoices.conftest import ledger_total, priced


async def issued(client: httpx.AsyncClient, patient_id: str, price: str = "80.00") -> Any:
    return await issue_one(client, patient_id, priced("Session", price))


async def test_staff_record_a_cash_payment_of_two_invoices(client, engine):
    patient = await create_patient(client)
    first, second = await issued(client, patient["id"]), await issued(client, patient["id"], "20")

    response = await client.post(
        "/api/payments/",
        json={"invoices": [first["id"], second["id"]], "method": "cash", "reference": "R-1"},
    )

    assert response.status_code == 201, response.text
    payment = response.json()
    assert (payment["status"], payment["amount"], payment["method"]) == (
        "succeeded",
        "100.00",
        "cash",
    )
    assert [i["amount"] for i in payment["invoices"]] == ["80.00", "20.00"]
    for invoice in (first, second):
        now = (await client.get(f"/api/invoices/{invoice['id']}/")).json()
        assert (now["status"], now["amount_due"], now["amount_paid"]) == (
            "paid",
            "0.00",
            invoice["total"],
        )
    again = await client.post("/api/payments/", json={"invoices": [first["id"]], "method": "cash"})
    assert again.status_code == 400
    assert await ledger_total(engine) == 0


async def test_a_patient_pays_from_the_wallet_but_not_by_cash(client, patient_client, engine):
    patient = await create_patient(client)
    invoice = await issued(client, patient["id"], "30.00")
    own = await patient_client(patient["id"])

    cash = await own.post("/api/payments/", json={"invoices": [invoice["id"]], "method": "cash"})
    assert cash.status_code == 403
    short = await own.post("/api/payments/", json={"invoices": [invoice["id"]], "method": "wallet"})
    assert short.status_code == 400
    assert "method" in short.json()

    await client.post(f"/api/patients/{patient['id']}/update_wallet/", json={"amount": "50"})
    paid = await own.post("/api/payments/", json={"invoices": [invoice["id"]], "method": "wallet"})

    assert paid.status_code == 201, paid.text
    assert (await own.get(f"/api/patients/{patient['id']}/")).json()["wallet_balance"] == "20.00"
    history = (await own.get(f"/api/patients/{patient['id']}/wallet_transactions/")).json()
    assert [row["amount"] for row in history["results"]] == ["-30.00", "50.00"]
    assert history["results"][0]["balance_after"] == "20.00"
    assert await ledger_total(engine) == 0


async def test_a_patient_cannot_pay_or_read_another_patients_invoice(client, patient_client):
    owner, other = await create_patient(client), await create_patient(client)
    invoice = await issued(client, owner["id"])
    stranger = await patient_client(other["id"])

    paid = await stranger.post(
        "/api/payments/", json={"invoices": [invoice["id"]], "method": "wallet"}
    )
    assert paid.status_code == 403
    assert (await stranger.get(f"/api/invoices/{invoice['id']}/")).status_code == 403
    listed = (await stranger.get("/api/payments/")).json()
    assert listed["count"] == 0


async def test_twenty_payments_of_one_invoice_at_once_pay_it_once(client, engine):
    patient = await create_patient(client)
    invoice = await issued(client, patient["id"], "45.00")

    responses = await asyncio.gather(
        *(
            client.post("/api/payments/", json={"invoices": [invoice["id"]], "method": "cash"})
            for _ in range(20)
        )
    )

    assert sorted(r.status_code for r in responses) == [201] + [400] * 19
    async with engine.connect() as connection:
        payments = await connection.scalar(
            text("SELECT count(*) FROM payment_allocations WHERE invoice_id = :i"),
            {"i": invoice["id"]},
        )
    assert payments == 1
    assert await ledger_total(engine) == 0


async def test_a_refund_never_exceeds_what_was_paid(client, staff_client, patient_client, engine):
    patient = await create_patient(client)
    invoice = await issued(client, patient["id"], "60.00")
    await client.post(f"/api/patients/{patient['id']}/update_wallet/", json={"amount": "60"})
    payment = (
        await client.post("/api/payments/", json={"invoices": [invoice["id"]], "method": "wallet"})
    ).json()
    refund = f"/api/payments/{payment['id']}/refund/"

    therapist = await staff_client("therapist")
    assert (await therapist.post(refund, json={"amount": "1.00"})).status_code == 403
    assert (await client.post(refund, json={"amount": "60.01"})).status_code == 400
    first = await client.post(refund, json={"amount": "40.00", "reason": "Cut short"})
    assert first.status_code == 201, first.text
    assert (await client.post(refund, json={"amount": "20.01"})).status_code == 400
    rest = await client.post(refund, json={})
    assert (rest.status_code, rest.json()["amount"]) == (201, "20.00")
    assert (await client.post(refund, json={})).status_code == 400

    now = (await client.get(f"/api/payments/{payment['id']}/")).json()
    assert now["amount_refunded"] == "60.00"
    assert (await client.get(f"/api/patients/{patient['id']}/")).json()["wallet_balance"] == "60.00"
    assert await ledger_total(engine) == 0


async def test_card_payments_need_a_processor(client):
    patient = await create_patient(client)
    invoice = await issued(client, patient["id"])

    response = await client.post(
        "/api/payments/", json={"invoices": [invoice["id"]], "method": "card"}
    )

    assert response.status_code == 400  # no card on file; and PAYMENTS_PROVIDER=none

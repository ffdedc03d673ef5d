"""Autopay: the worker's cycle charges the open invoices of the patients who chose it, from the
clinic's AUTOPAY_HOUR, each once, retrying a declined card with backoff and telling the patient
by mail; against localstripe."""

import asyncio
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from fastapi import FastAPI

from app.payments.autopay import Autopay
from tests.cards.test_routes import save_card
from tests.factories import create_patient
from tests.invoices.conftest import ledger_total
from tests.payments.test_cards import DECLINED, intents_of, issued


class Outbox:
    """The mails a cycle sends (the mailer is not under test here)."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage, *, key: str | None = None) -> None:
        self.sent.append(message)


def autopay(app: FastAPI, outbox: Outbox, **settings: Any) -> Autopay:
    state = app.state
    return Autopay(
        state.database, outbox, state.settings.model_copy(update=settings), state.processor
    )


def at_local_hour(app: FastAPI, hour: int, days: int = 0) -> datetime:
    zone = app.state.settings.clinic_zone
    today = datetime.now(zone).replace(hour=hour, minute=5, second=0, microsecond=0)
    return (today + timedelta(days=days)).astimezone(UTC)


async def on_autopay(client: httpx.AsyncClient, base: str, number: str = "4242424242424242") -> Any:
    patient = await create_patient(client, email=f"{number[-4:]}@example.com")
    await save_card(client, base, patient["id"], number)
    response = await client.put(f"/api/patients/{patient['id']}/autopay/", json={"enabled": True})
    assert response.status_code == 200, response.text
    return patient


async def test_the_open_invoices_of_a_patient_on_autopay_are_charged_once(
    app, client, stripe, engine
):
    patient = await on_autopay(client, stripe)
    bystander = await create_patient(client)
    await save_card(client, stripe, bystander["id"])
    invoices = [await issued(client, patient["id"]), await issued(client, patient["id"], "20")]
    untouched = await issued(client, bystander["id"])
    outbox = Outbox()
    runner = autopay(app, outbox, autopay_hour=6)

    early = await runner.cycle(at_local_hour(app, 5))
    first = await runner.cycle(at_local_hour(app, 6))
    again = await runner.cycle(at_local_hour(app, 7))

    assert (dict(early), dict(first), dict(again)) == ({}, {"paid": 2}, {})
    for invoice in invoices:
        assert (await client.get(f"/api/invoices/{invoice['id']}/")).json()["status"] == "paid"
    assert (await client.get(f"/api/invoices/{untouched['id']}/")).json()["status"] == "open"
    assert len(await intents_of(stripe, patient["id"])) == 2
    assert outbox.sent == []
    assert await ledger_total(engine) == 0


async def test_two_workers_at_once_charge_each_invoice_once(app, client, stripe, engine):
    patient = await on_autopay(client, stripe)
    for price in ("10", "20", "30"):
        await issued(client, patient["id"], price)
    now = at_local_hour(app, 12)

    results = await asyncio.gather(
        autopay(app, Outbox()).cycle(now), autopay(app, Outbox()).cycle(now)
    )

    assert sum(result["paid"] for result in results) == 3
    assert len(await intents_of(stripe, patient["id"])) == 3
    assert await ledger_total(engine) == 0


async def test_a_declined_card_is_retried_with_backoff_and_the_patient_told(
    app, client, stripe, engine
):
    patient = await on_autopay(client, stripe, DECLINED)
    invoice = await issued(client, patient["id"], "35.00")
    outbox = Outbox()
    runner = autopay(app, outbox, autopay_hour=6, autopay_retry_hours=24, autopay_max_attempts=2)

    first = await runner.cycle(at_local_hour(app, 6))
    too_soon = await runner.cycle(at_local_hour(app, 20))
    second = await runner.cycle(at_local_hour(app, 7, days=1))
    after_all = await runner.cycle(at_local_hour(app, 7, days=10))

    assert (dict(first), dict(too_soon), dict(second), dict(after_all)) == (
        {"declined": 1},
        {},
        {"declined": 1},
        {},
    )
    assert [m["To"] for m in outbox.sent] == [patient["email"]] * 2
    assert "try again" in outbox.sent[0].get_content()
    assert "not try again" in outbox.sent[1].get_content()
    assert invoice["number"] in outbox.sent[0].get_content()
    assert (await client.get(f"/api/invoices/{invoice['id']}/")).json()["status"] == "open"
    assert await ledger_total(engine) == 0


async def test_without_a_processor_autopay_does_nothing(app, client):
    patient = await create_patient(client)
    await issued(client, patient["id"])

    assert dict(await autopay(app, Outbox()).cycle(at_local_hour(app, 12))) == {}

"""The service the webhook calls, on a unit of work of its own: `record_setup` for a
setup_intent.succeeded (the card recorded once, whichever comes first of it and the API's
completion; a setup of nobody's ignored), and `card_detached` for a payment_method.detached."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.cards.service import CardService
from app.db.database import Database
from app.processor.results import Setup
from app.requests.work import UnitOfWork
from tests.cards.test_routes import begin, listed, url
from tests.factories import create_patient
from tests.localstripe import confirm_setup
from tests.requests.test_work import entry


@pytest.fixture
async def patient(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create_patient(client)


def service(app: FastAPI, work: UnitOfWork) -> CardService:
    return CardService(work, app.state.processor, app.state.settings)


def database(app: FastAPI) -> Database:
    found: Database = app.state.database
    return found


async def test_the_webhook_records_a_setup_before_the_api_completes_it(
    app, client, stripe, patient
):
    setup = await begin(client, patient["id"])
    await confirm_setup(stripe, setup["setup_intent"])
    succeeded = await app.state.processor.retrieve_setup_intent(setup["setup_intent"])

    async with UnitOfWork(database(app), entry("webhook")) as work:
        recorded = await service(app, work).record_setup(succeeded)
    async with UnitOfWork(database(app), entry("webhook")) as work:
        replayed = await service(app, work).record_setup(succeeded)

    assert recorded is not None
    assert replayed == recorded
    assert (recorded["patient_id"], recorded["is_default"]) == (patient["id"], True)
    completed = await client.post(url(patient["id"], f"setup/{setup['setup_intent']}/complete/"))
    assert (completed.status_code, completed.json()["id"]) == (200, recorded["id"])
    assert [card["id"] for card in await listed(client, patient["id"])] == [recorded["id"]]


async def test_a_setup_of_nobody_or_not_succeeded_records_nothing(app, client, stripe, patient):
    setup = await begin(client, patient["id"])
    pending = await app.state.processor.retrieve_setup_intent(setup["setup_intent"])
    stranger = Setup(
        id="seti_notours",
        status="succeeded",
        client_secret=None,
        payment_method="pm_x",
        customer=None,
    )
    async with UnitOfWork(database(app), entry("webhook")) as work:
        assert await service(app, work).record_setup(pending) is None
        assert await service(app, work).record_setup(stranger) is None
    assert await listed(client, patient["id"]) == []


async def test_a_card_detached_at_the_processor_is_removed(app, client, stripe, patient):
    setup = await begin(client, patient["id"])
    await confirm_setup(stripe, setup["setup_intent"])
    done = await client.post(url(patient["id"], f"setup/{setup['setup_intent']}/complete/"))
    card = done.json()

    async with UnitOfWork(database(app), entry("webhook")) as work:
        removed = await service(app, work).card_detached(card["processor_id"])
    async with UnitOfWork(database(app), entry("webhook")) as work:
        again = await service(app, work).card_detached(card["processor_id"])

    assert removed is not None
    assert (removed["id"], removed["is_default"], removed["removed_at"] is not None) == (
        card["id"],
        False,
        True,
    )
    assert again is None
    assert await listed(client, patient["id"]) == []

"""Cards on file through the API against localstripe, with the real SDK: a setup with the
consent recorded, confirmed as Stripe.js would, completed, listed, made the default (at once
from many requests: one default), removed (detached at localstripe); autopay; who may reach
whose cards; PAYMENTS_PROVIDER=none; and no card number or client secret in a log line."""

import asyncio
import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.cards.schemas import CONSENT_REQUIRED
from app.cards.service import NEEDS_DEFAULT_CARD, consent_text
from app.processor.errors import PaymentsDisabled
from tests.factories import create_patient
from tests.localstripe import SECRET_KEY, confirm_setup
from tests.requests.test_work import events

PASSWORD = "correct-horse"
PAYS = "4242424242424242"
MASTERCARD = "5555555555554444"
NOT_FOUND = {"detail": "Not found."}
FORBIDDEN = {"detail": "You do not have permission to perform this action."}
DISABLED = {"non_field_errors": [PaymentsDisabled.MESSAGE]}


def url(patient_id: str, rest: str = "") -> str:
    return f"/api/patients/{patient_id}/payment-methods/{rest}"


@pytest.fixture
async def patient(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create_patient(client, password=PASSWORD)


async def begin(http: httpx.AsyncClient, patient_id: str) -> dict[str, Any]:
    response = await http.post(url(patient_id, "setup/"), json={"consent": True})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def save_card(
    http: httpx.AsyncClient, base: str, patient_id: str, number: str = PAYS, **expiry: int
) -> dict[str, Any]:
    setup = await begin(http, patient_id)
    await confirm_setup(base, setup["setup_intent"], number, **expiry)
    response = await http.post(url(patient_id, f"setup/{setup['setup_intent']}/complete/"))
    assert response.status_code == 200, response.text
    card: dict[str, Any] = response.json()
    return card


async def listed(http: httpx.AsyncClient, patient_id: str) -> list[dict[str, Any]]:
    response = await http.get(url(patient_id))
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


async def test_a_patient_saves_a_card_with_their_consent(
    app, stripe, patient, patient_client, engine
):
    own = await patient_client(patient["id"])
    shown = await own.get(url(patient["id"], "consent/"))
    assert shown.status_code == 200, shown.text
    text_shown = shown.json()["text"]
    assert text_shown == consent_text(app.state.settings)
    assert app.state.settings.practice_name in text_shown

    setup = await begin(own, patient["id"])
    assert setup["setup_intent"].startswith("seti_")
    assert setup["client_secret"].startswith(setup["setup_intent"] + "_secret_")
    consent = setup["consent"]
    assert consent == {
        "text": text_shown,
        "given_by": patient["id"],
        "given_by_kind": "patient",
        "given_at": consent["given_at"],
    }
    method = await confirm_setup(stripe, setup["setup_intent"], PAYS, exp_month=7, exp_year=2031)
    done = await own.post(url(patient["id"], f"setup/{setup['setup_intent']}/complete/"))

    assert done.status_code == 200, done.text
    card = done.json()
    assert card == {
        "id": card["id"],
        "processor_id": method,
        "brand": "visa",
        "last4": "4242",
        "exp_month": 7,
        "exp_year": 2031,
        "is_default": True,
        "created_at": card["created_at"],
    }
    assert await listed(own, patient["id"]) == [card]
    again = await own.post(url(patient["id"], f"setup/{setup['setup_intent']}/complete/"))
    assert (again.status_code, again.json()) == (200, card)
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT * FROM card_setups WHERE setup_intent_id = :id"),
                {"id": setup["setup_intent"]},
            )
        ).one()
        customers = await connection.scalar(
            text("SELECT count(*) FROM processor_customers WHERE patient_id = :id"),
            {"id": patient["id"]},
        )
    assert (row.consent_text, row.consent_by, row.consent_by_kind) == (
        text_shown,
        patient["id"],
        "patient",
    )
    assert row.completed_at is not None
    assert customers == 1
    [event] = await events(engine, action="create_card_setup")
    assert (event["actor"], event["patient_id"], event["outcome"]) == (
        patient["id"],
        patient["id"],
        "success",
    )


async def test_staff_save_a_card_and_are_named_in_the_consent(client, stripe, patient):
    setup = await begin(client, patient["id"])
    assert (setup["consent"]["given_by"], setup["consent"]["given_by_kind"]) == ("admin", "staff")
    second = await begin(client, patient["id"])  # the same customer, a new SetupIntent
    assert second["setup_intent"] != setup["setup_intent"]


@pytest.mark.parametrize("body", [{"consent": False}, {}, {"consent": "true"}, {"consent": 1}])
async def test_no_consent_is_a_400_on_consent(client, stripe, patient, body, engine):
    response = await client.post(url(patient["id"], "setup/"), json=body)
    assert response.status_code == 400, response.text
    assert list(response.json()) == ["consent"]
    if body == {"consent": False}:
        assert response.json() == {"consent": [CONSENT_REQUIRED]}
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM card_setups")) == 0


async def test_a_setup_not_confirmed_is_a_400(client, stripe, patient):
    setup = await begin(client, patient["id"])
    response = await client.post(url(patient["id"], f"setup/{setup['setup_intent']}/complete/"))
    assert response.status_code == 400, response.text
    [message] = response.json()["non_field_errors"]
    assert "not confirmed yet" in message
    assert await listed(client, patient["id"]) == []


async def test_another_patients_setup_is_a_404(client, stripe, patient):
    other = await create_patient(client)
    setup = await begin(client, other["id"])
    await confirm_setup(stripe, setup["setup_intent"])
    path = url(patient["id"], f"setup/{setup['setup_intent']}/complete/")
    assert ((r := await client.post(path)).status_code, r.json()) == (404, NOT_FOUND)
    unknown = url(patient["id"], "setup/seti_doesnotexist/complete/")
    assert (await client.post(unknown)).status_code == 404
    assert (await client.post(url(patient["id"], "setup/not-a-setup/complete/"))).status_code == 404
    assert await listed(client, patient["id"]) == []


async def test_a_removed_card_is_gone_and_detached_at_the_processor(client, stripe, patient):
    card = await save_card(client, stripe, patient["id"])
    removed = await client.delete(url(patient["id"], f"{card['id']}/"))
    assert (removed.status_code, removed.content) == (204, b"")
    assert await listed(client, patient["id"]) == []
    async with httpx.AsyncClient(
        base_url=stripe, headers={"Authorization": f"Bearer {SECRET_KEY}"}
    ) as api:
        method = (await api.get(f"/v1/payment_methods/{card['processor_id']}")).json()
    assert method["customer"] is None
    assert (await client.delete(url(patient["id"], f"{card['id']}/"))).status_code == 404
    default = await client.post(url(patient["id"], f"{card['id']}/default/"))
    assert default.status_code == 404


async def test_the_default_moves_to_the_card_chosen(client, stripe, patient):
    first = await save_card(client, stripe, patient["id"])
    second = await save_card(client, stripe, patient["id"], MASTERCARD)
    assert (first["is_default"], second["is_default"], second["last4"]) == (True, False, "4444")
    chosen = await client.post(url(patient["id"], f"{second['id']}/default/"))
    assert chosen.status_code == 200, chosen.text
    assert chosen.json() == {**second, "is_default": True}
    assert [(c["id"], c["is_default"]) for c in await listed(client, patient["id"])] == [
        (second["id"], True),
        (first["id"], False),
    ]
    # The default removed: none is the default until one is chosen.
    assert (await client.delete(url(patient["id"], f"{second['id']}/"))).status_code == 204
    assert [(c["id"], c["is_default"]) for c in await listed(client, patient["id"])] == [
        (first["id"], False)
    ]


async def test_concurrent_choices_leave_exactly_one_default(client, stripe, patient, engine):
    cards = [await save_card(client, stripe, patient["id"]) for _ in range(3)]
    answers = await asyncio.gather(
        *(client.post(url(patient["id"], f"{cards[n % 3]['id']}/default/")) for n in range(15))
    )
    assert [answer.status_code for answer in answers] == [200] * 15
    async with engine.connect() as connection:
        defaults = await connection.scalar(
            text(
                "SELECT count(*) FROM payment_methods "
                "WHERE patient_id = :id AND is_default AND removed_at IS NULL"
            ),
            {"id": patient["id"]},
        )
    assert defaults == 1


async def test_a_patient_cannot_reach_another_patients_cards(
    client, stripe, patient, patient_client
):
    other = await create_patient(client, password=PASSWORD)
    card = await save_card(client, stripe, other["id"])
    setup = await begin(client, other["id"])
    own = await patient_client(patient["id"])
    theirs = other["id"]
    attempts = [
        own.get(url(theirs)),
        own.get(url(theirs, "consent/")),
        own.post(url(theirs, "setup/"), json={"consent": True}),
        own.post(url(theirs, f"setup/{setup['setup_intent']}/complete/")),
        own.delete(url(theirs, f"{card['id']}/")),
        own.post(url(theirs, f"{card['id']}/default/")),
        own.get(f"/api/patients/{theirs}/autopay/"),
        own.put(f"/api/patients/{theirs}/autopay/", json={"enabled": False}),
    ]
    for attempt in attempts:
        response = await attempt
        assert (response.status_code, response.json()) == (403, FORBIDDEN)
    # Their card through the patient's own path: not found.
    assert (await own.delete(url(patient["id"], f"{card['id']}/"))).status_code == 404
    assert (await own.post(url(patient["id"], f"{card['id']}/default/"))).status_code == 404
    assert await listed(client, theirs) == [card]


async def test_a_therapist_manages_a_patients_cards(client, staff_client, stripe, patient):
    therapist = await staff_client("therapist")
    card = await save_card(therapist, stripe, patient["id"])
    assert await listed(therapist, patient["id"]) == [card]
    assert (await therapist.delete(url(patient["id"], f"{card['id']}/"))).status_code == 204


async def test_a_patient_not_there_is_a_404(client, stripe):
    missing = "p_zzzzzz"
    assert (await client.get(url(missing))).status_code == 404
    assert (await client.get(url(missing, "consent/"))).status_code == 404
    assert (await client.post(url(missing, "setup/"), json={"consent": True})).status_code == 404
    assert (await client.get(f"/api/patients/{missing}/autopay/")).status_code == 404


async def test_autopay_needs_a_default_card(client, stripe, patient, patient_client):
    own = await patient_client(patient["id"])
    path = f"/api/patients/{patient['id']}/autopay/"
    assert (await own.get(path)).json() == {
        "enabled": False,
        "changed_by": None,
        "changed_at": None,
    }
    refused = await own.put(path, json={"enabled": True})
    assert (refused.status_code, refused.json()) == (400, {"enabled": [NEEDS_DEFAULT_CARD]})
    await save_card(own, stripe, patient["id"])
    on = await own.put(path, json={"enabled": True})
    assert on.status_code == 200, on.text
    assert on.json() == {
        "enabled": True,
        "changed_by": patient["id"],
        "changed_at": on.json()["changed_at"],
    }
    assert (await own.get(path)).json() == on.json()
    off = await client.put(path, json={"enabled": False})
    assert (off.status_code, off.json()["enabled"], off.json()["changed_by"]) == (
        200,
        False,
        "admin",
    )
    assert (await client.put(path, json={"enabled": "yes"})).status_code == 400


async def test_with_payments_disabled_cards_are_refused_and_the_list_is_empty(client, patient):
    path = url(patient["id"])
    assert (await client.get(path)).json()["results"] == []
    assert (await client.get(url(patient["id"], "consent/"))).status_code == 200
    for response in (
        await client.post(url(patient["id"], "setup/"), json={"consent": True}),
        await client.post(url(patient["id"], "setup/seti_abc123/complete/")),
        await client.delete(url(patient["id"], "1/")),
        await client.put(f"/api/patients/{patient['id']}/autopay/", json={"enabled": True}),
    ):
        assert (response.status_code, response.json()) == (400, DISABLED)
    off = await client.put(f"/api/patients/{patient['id']}/autopay/", json={"enabled": False})
    assert off.status_code == 200


async def test_no_card_number_or_client_secret_is_logged(client, stripe, patient, caplog):
    caplog.set_level(logging.DEBUG)
    setup = await begin(client, patient["id"])
    await confirm_setup(stripe, setup["setup_intent"], PAYS)
    done = await client.post(url(patient["id"], f"setup/{setup['setup_intent']}/complete/"))
    assert done.status_code == 200
    await client.get(url(patient["id"]))
    await client.delete(url(patient["id"], f"{done.json()['id']}/"))
    assert caplog.records, "the requests were logged"
    secret = setup["client_secret"]
    for record in caplog.records:
        line = record.getMessage() + repr(record.__dict__)
        assert PAYS not in line
        assert secret not in line
        assert SECRET_KEY not in line

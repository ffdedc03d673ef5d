"""The wallet ledger: one row per balance change, in the change's transaction; it sums to the
balance, whatever the concurrency."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import text

from app.patients.commands import purge
from tests.factories import create_patient


def wallet(patient_id: str) -> str:
    return f"/api/patients/{patient_id}/update_wallet/"


def ledger(patient_id: str) -> str:
    return f"/api/patients/{patient_id}/wallet_transactions/"


async def ledger_total(engine, patient_id: str) -> Decimal:
    async with engine.connect() as connection:
        total = await connection.scalar(
            text(
                "SELECT coalesce(-sum(amount), 0) FROM ledger_entries"
                " WHERE patient_id = :p AND account = 'wallet'"
            ),
            {"p": patient_id},
        )
        whole = await connection.scalar(text("SELECT coalesce(sum(amount), 0) FROM ledger_entries"))
    assert whole == 0
    return Decimal(total)


async def test_each_update_writes_a_row_with_the_balance_after_it(client):
    patient = await create_patient(client)
    await client.post(wallet(patient["id"]), json={"amount": "25.50", "reason": "Top-up"})
    await client.post(wallet(patient["id"]), json={"amount": "-5.25"})

    response = await client.get(ledger(patient["id"]))

    assert response.status_code == 200
    page = response.json()
    assert page["count"] == 2
    assert page["next"] is None
    assert page["previous"] is None
    newest, oldest = page["results"]
    assert (oldest["amount"], oldest["balance_after"], oldest["reason"]) == (
        "25.50",
        "25.50",
        "Top-up",
    )
    assert (newest["amount"], newest["balance_after"], newest["reason"]) == ("-5.25", "20.25", None)
    assert newest["actor"] == "admin"
    assert newest["id"] > oldest["id"]
    assert set(newest) == {"id", "amount", "balance_after", "reason", "actor", "created_at"}


async def test_a_refused_update_writes_no_row(client, engine):
    patient = await create_patient(client)
    refused = await client.post(wallet(patient["id"]), json={"amount": "-1.00"})
    assert refused.status_code == 400

    assert (await client.get(ledger(patient["id"]))).json()["count"] == 0
    assert await ledger_total(engine, patient["id"]) == Decimal("0")


async def test_the_reason_is_checked(client):
    patient = await create_patient(client)
    too_long = await client.post(wallet(patient["id"]), json={"amount": "1", "reason": "x" * 256})
    assert too_long.status_code == 400
    assert too_long.json() == {"reason": ["Ensure this field has no more than 255 characters."]}

    longest = await client.post(wallet(patient["id"]), json={"amount": "1", "reason": "x" * 255})
    assert longest.status_code == 200
    assert (await client.get(ledger(patient["id"]))).json()["results"][0]["reason"] == "x" * 255


async def test_ledger_sums_to_the_balance_after_concurrent_updates(client, engine):
    patient = await create_patient(client)
    amounts = ["10.00", "-3.00", "2.50", "7.25", "-1.75"] * 20
    await client.post(wallet(patient["id"]), json={"amount": "100.00"})  # all 95 of debits fit

    responses = await asyncio.gather(
        *(client.post(wallet(patient["id"]), json={"amount": amount}) for amount in amounts)
    )

    assert [r.status_code for r in responses] == [200] * len(amounts)
    patient_now = (await client.get(f"/api/patients/{patient['id']}/")).json()
    assert patient_now["wallet_balance"] == "400.00"  # 100 + 20 x 15
    assert await ledger_total(engine, patient["id"]) == Decimal("400.00")
    rows = (await client.get(ledger(patient["id"]), params={"page_size": 100})).json()
    assert rows["count"] == len(amounts) + 1
    assert rows["results"][0]["balance_after"] == "400.00"


async def test_concurrent_debits_past_the_balance_are_refused_exactly(client, engine):
    patient = await create_patient(client)
    await client.post(wallet(patient["id"]), json={"amount": "5.00"})

    responses = await asyncio.gather(
        *(client.post(wallet(patient["id"]), json={"amount": "-0.25"}) for _ in range(30))
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 20 + [400] * 10  # whichever order they ran in
    insufficient = {"amount": ["Insufficient balance: the wallet balance cannot go below 0.00."]}
    assert [r.json() for r in responses if r.status_code == 400] == [insufficient] * 10
    patient_now = (await client.get(f"/api/patients/{patient['id']}/")).json()
    assert patient_now["wallet_balance"] == "0.00"
    assert await ledger_total(engine, patient["id"]) == Decimal("0.00")
    rows = (await client.get(ledger(patient["id"]), params={"page_size": 100})).json()
    assert rows["count"] == 21
    assert rows["results"][0]["balance_after"] == "0.00"


async def test_ledger_pages_newest_first(client):
    patient = await create_patient(client)
    for cents in range(1, 6):
        await client.post(wallet(patient["id"]), json={"amount": f"0.0{cents}"})

    first = (await client.get(ledger(patient["id"]), params={"page_size": 2})).json()
    last = (await client.get(ledger(patient["id"]), params={"page": 3, "page_size": 2})).json()

    assert [row["amount"] for row in first["results"]] == ["0.05", "0.04"]
    assert first["next"].endswith(f"{ledger(patient['id'])}?page_size=2&page=2")
    assert [row["amount"] for row in last["results"]] == ["0.01"]
    past = await client.get(ledger(patient["id"]), params={"page": 4, "page_size": 2})
    assert past.status_code == 404
    assert past.json() == {"detail": "Invalid page."}


async def test_unknown_patient_has_no_ledger(client):
    response = await client.get(ledger("p_zzzzzz"))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


async def test_a_patient_reads_their_own_ledger_only(app, client, login):
    me = await create_patient(client)
    other = await create_patient(client)
    await client.post(wallet(me["id"]), json={"amount": "3.00"})
    token = await login(me["id"], "correct-horse")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token}"},
    ) as patient:
        mine = await patient.get(ledger(me["id"]))
        theirs = await patient.get(ledger(other["id"]))
        missing = await patient.get(ledger("p_zzzzzz"))
        update = await patient.post(wallet(me["id"]), json={"amount": "1.00"})

    assert mine.status_code == 200
    assert mine.json()["count"] == 1
    assert theirs.status_code == 403
    assert missing.status_code == 404
    assert update.status_code == 403


async def test_therapist_reads_a_ledger(client, staff_client):
    patient = await create_patient(client)
    therapist = await staff_client("therapist")
    assert (await therapist.get(ledger(patient["id"]))).status_code == 200


async def test_anonymous_gets_401(anonymous):
    response = await anonymous.get(ledger("p_aaaaaa"))
    assert response.status_code == 401


async def test_purging_the_patient_keeps_the_ledger_without_their_name(client, engine, settings):
    patient = await create_patient(client)
    await client.post(wallet(patient["id"]), json={"amount": "3.00"})
    assert (await client.delete(f"/api/patients/{patient['id']}/")).status_code == 204
    later = datetime.now(UTC) + timedelta(days=settings.patient_retention_days + 1)
    assert patient["id"] in await purge(settings, now=later)
    async with engine.connect() as connection:
        named = await connection.scalar(
            text("SELECT count(*) FROM ledger_entries WHERE patient_id = :p"), {"p": patient["id"]}
        )
        kept = await connection.scalar(
            text(
                "SELECT count(*) FROM ledger_entries e JOIN ledger_transactions t"
                " ON t.id = e.transaction_id WHERE t.patient_id IS NULL AND t.memo IS NULL"
                " AND e.account = 'wallet' AND e.amount = -3"
            )
        )
        whole = await connection.scalar(text("SELECT coalesce(sum(amount), 0) FROM ledger_entries"))
    assert (named, whole) == (0, 0)
    assert kept >= 1

"""The ledger holds whatever writes to it: PostgreSQL refuses a transaction that does not
balance and any change of an entry, and after a concurrent mix of every movement of money the
ledger sums to zero, each wallet to its balance and each invoice to its amount due."""

import asyncio
import random
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from app.ledger.repository import LedgerRepository, Unbalanced
from app.ledger.schemas import Entry
from tests.factories import create_patient
from tests.invoices.conftest import issued, priced


async def raw(database_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))


async def post_unbalanced(connection: asyncpg.Connection) -> None:
    async with connection.transaction():
        posted = await connection.fetchval(
            "INSERT INTO ledger_transactions (kind, actor, actor_kind)"
            " VALUES ('fee', 'test', 'test') RETURNING id"
        )
        await connection.execute(
            "INSERT INTO ledger_entries (transaction_id, account, amount)"
            " VALUES ($1, 'revenue', -5), ($1, 'receivable', 4.99)",
            posted,
        )


async def test_postgresql_refuses_a_transaction_that_does_not_balance(database_url):
    connection = await raw(database_url)
    try:
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            await post_unbalanced(connection)
        assert await connection.fetchval("SELECT count(*) FROM ledger_entries") == 0
    finally:
        await connection.close()


async def test_an_entry_is_never_changed_or_removed(client, database_url):
    patient = await create_patient(client)
    await client.post(f"/api/patients/{patient['id']}/update_wallet/", json={"amount": "5"})
    connection = await raw(database_url)
    try:
        for statement in (
            "UPDATE ledger_entries SET amount = amount * 2",
            "UPDATE ledger_entries SET account = 'cash' WHERE account = 'adjustments'",
            "DELETE FROM ledger_entries",
        ):
            with pytest.raises(asyncpg.CheckViolationError, match="never changed"):
                await connection.execute(statement)
    finally:
        await connection.close()


async def test_the_repository_refuses_entries_that_do_not_balance(app):
    ledger = LedgerRepository(app.state.database)
    with pytest.raises(Unbalanced):
        await ledger.post(
            "fee", [Entry("revenue", Decimal("-5")), Entry("receivable", Decimal("4"))],
            actor="test", actor_kind="test",
        )  # fmt: skip


async def test_after_a_concurrent_mix_of_every_movement_the_ledger_is_whole(client, engine):
    patients = [await create_patient(client) for _ in range(4)]
    for patient in patients:
        await client.post(f"/api/patients/{patient['id']}/update_wallet/", json={"amount": "500"})
    invoices: list[dict[str, Any]] = []
    for patient in patients:
        for price in ("40.00", "25.50", "10.00"):
            invoices.append(await issued(client, patient["id"], priced("Session", price)))
    dice = random.Random(25)

    async def one(invoice: dict[str, Any]) -> None:
        choice = dice.choice(["cash", "wallet", "void", "write_off", "pay_twice", "refund"])
        pay = {"invoices": [invoice["id"]], "method": "wallet" if choice == "wallet" else "cash"}
        if choice in ("void", "write_off"):
            await client.post(f"/api/invoices/{invoice['id']}/{choice}/", json={})
        elif choice == "pay_twice":
            await asyncio.gather(client.post("/api/payments/", json=pay),
                                 client.post("/api/payments/", json=pay))  # fmt: skip
        else:
            paid = await client.post("/api/payments/", json=pay)
            if choice == "refund" and paid.status_code == 201:
                refund = f"/api/payments/{paid.json()['id']}/refund/"
                await asyncio.gather(client.post(refund, json={"amount": "3.00"}),
                                     client.post(refund, json={}))  # fmt: skip
        await client.post(
            f"/api/patients/{invoice['patient']}/update_wallet/", json={"amount": "-1.25"}
        )

    await asyncio.gather(*(one(invoice) for invoice in invoices))

    async with engine.connect() as connection:
        total = await connection.scalar(text("SELECT coalesce(sum(amount), 0) FROM ledger_entries"))
        unbalanced = await connection.scalar(
            text(
                "SELECT count(*) FROM (SELECT transaction_id FROM ledger_entries"
                " GROUP BY transaction_id HAVING sum(amount) <> 0) AS t"
            )
        )
        wallets = await connection.scalar(
            text(
                "SELECT count(*) FROM patients p WHERE p.wallet_balance <> coalesce((SELECT"
                " -sum(amount) FROM ledger_entries e WHERE e.patient_id = p.id"
                " AND e.account = 'wallet'), 0)"
            )
        )
        dues = await connection.execute(
            text(
                "SELECT i.status, coalesce(sum(e.amount), 0) AS due FROM invoices i"
                " LEFT JOIN ledger_entries e ON e.invoice_id = i.id AND e.account = 'receivable'"
                " GROUP BY i.id"
            )
        )
        dues = dues.all()
        twice = await connection.scalar(
            text(
                "SELECT count(*) FROM (SELECT invoice_id FROM payment_allocations a"
                " JOIN payments p ON p.id = a.payment_id WHERE p.status = 'succeeded'"
                " GROUP BY invoice_id HAVING count(*) > 1) AS t"
            )
        )
        refunds = await connection.scalar(
            text("SELECT count(*) FROM payments WHERE amount_refunded > amount")
        )
    assert (total, unbalanced, wallets, twice, refunds) == (0, 0, 0, 0, 0)
    assert all(due == 0 for status, due in dues if status != "open")
    for invoice in invoices:
        read = (await client.get(f"/api/invoices/{invoice['id']}/")).json()
        assert Decimal(read["amount_due"]) + Decimal(read["amount_paid"]) in (
            Decimal(read["total"]),
            Decimal(read["amount_paid"]),  # written off or void: nothing due
        )

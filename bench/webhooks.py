"""A burst of signed Stripe events on one worker (issue 25): how many a second, and how many
were applied more than once (it must be 0).

    .venv/bin/python -m bench.webhooks                    # 1,000 events, 16 at a time
    .venv/bin/python -m bench.webhooks --events 5000 --connections 32

One uvicorn worker (as the image runs it, PAYMENTS_PROVIDER=stripe with a test signing secret)
serves a fresh database `bench_webhooks` on BENCH_DATABASE_URL's server. Each of `--payments`
card payments waits on its PaymentIntent, for an open invoice; the burst is one
`payment_intent.succeeded` per payment plus replays of random ones (a fifth of the burst),
shuffled and sent `--connections` at a time, each signed as Stripe signs. Then the database is
asked: payments succeeded, ledger transactions per payment (more than one: applied twice),
invoices paid, and the ledger's total (0).
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx

from bench.cores import Cores
from bench.run import ADMIN, ROOT, Service, database_url, python, service_env, sql

SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NAME = "bench_webhooks"
SECRET = "whsec_bench_signing_secret"  # noqa: S105 - a test signing secret
PATIENT = {
    "password": "bench-password-1",
    "first_name": "Web",
    "last_name": "Hook",
    "phone_no": "+15550009999",
    "allergies_and_medication": "",
    "date_of_birth": "1990-01-01",
    "sex": "O",
}


def signed(event: dict[str, object]) -> tuple[bytes, str]:
    body = json.dumps(event).encode()
    at = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={at},v1={digest}"


def intent(number: int, created: int) -> dict[str, object]:
    return {
        "id": f"pi_bench_{number}",
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 5000,
        "currency": "usd",
        "client_secret": None,
        "created": created,
        "metadata": {"payment": "0", "patient": "", "invoices": ""},
    }


async def prepare(base: str, token: str, payments: int, url: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        created = await client.post("/api/patients/", json=PATIENT)
        created.raise_for_status()
        patient = created.json()["id"]
        for _ in range(payments):
            draft = await client.post(
                "/api/invoices/",
                json={
                    "patient": patient,
                    "lines": [{"description": "Session", "unit_price": "50"}],
                },
            )
            draft.raise_for_status()
            (await client.post(f"/api/invoices/{draft.json()['id']}/issue/")).raise_for_status()
    # The payments under way, as a card payment leaves them before its webhook.
    connection = await asyncpg.connect(url)
    await connection.execute(
        f"""
        WITH open AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM invoices)
        , paid AS (
            INSERT INTO payments (patient_id, purpose, method, status, amount, currency,
                processor_intent_id, created_by, created_by_kind)
            SELECT '{patient}', 'invoices', 'card', 'pending', 50, 'USD', 'pi_bench_' || n,
                'bench', 'patient'
            FROM open RETURNING id, processor_intent_id
        )
        INSERT INTO payment_allocations (payment_id, invoice_id, amount)
        SELECT paid.id, open.id, 50
        FROM paid JOIN open ON paid.processor_intent_id = 'pi_bench_' || open.n
        """  # noqa: S608 - our own patient id
    )
    await connection.close()
    return str(patient)


async def burst(
    base: str, payments: int, events: int, connections: int
) -> tuple[float, Counter[str]]:
    now = int(time.time())
    unique = [
        {"id": f"evt_bench_{n}", "object": "event", "type": "payment_intent.succeeded",
         "created": now, "livemode": False, "data": {"object": intent(n, now)}}
        for n in range(1, payments + 1)
    ]  # fmt: skip
    chooser = random.Random(25)  # noqa: S311 - a shuffle, not a secret
    sent = unique + [chooser.choice(unique) for _ in range(events - len(unique))]
    chooser.shuffle(sent)
    bodies = [signed(event) for event in sent]
    outcomes: Counter[str] = Counter()
    queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)

    async def sender(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body, signature = queue.get_nowait()
            answer = await client.post(
                "/api/payments/stripe/webhook/",
                content=body,
                headers={"Content-Type": "application/json", "Stripe-Signature": signature},
            )
            outcomes[answer.json().get("outcome", str(answer.status_code))] += 1

    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        started = time.perf_counter()
        await asyncio.gather(*(sender(client) for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return elapsed, outcomes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000, help="events in the burst")
    parser.add_argument("--connections", type=int, default=16, help="events sent at once")
    options = parser.parse_args(argv)
    payments = options.events * 4 // 5

    url = database_url(SERVER, NAME)
    sql(SERVER, f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)', f'CREATE DATABASE "{NAME}"')
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as out:
        env = {
            **service_env(url, Path(out), reuse=False),
            "ALLOWED_HOSTS": '["127.0.0.1"]',
            "PAYMENTS_PROVIDER": "stripe",
            "STRIPE_SECRET_KEY": "sk_test_bench",
            "STRIPE_WEBHOOK_SECRET": SECRET,
            "STRIPE_API_BASE": "http://127.0.0.1:9",  # never called: the events say it all
        }
        python("-m", "app", "migrate", env=env, capture=True)
        python(
            *("-m", "app", "createsuperuser", "--username", ADMIN[0], "--password", ADMIN[1]),
            env=env,
            capture=True,
        )
        cpus = frozenset(os.sched_getaffinity(0))
        service = Service(env, cores=Cores(cpus, cpus), log=Path(out) / "service.log", root=ROOT)
        try:
            service.wait_ready()
            asyncio.run(prepare(service.base, service.token(), payments, url))
            elapsed, outcomes = asyncio.run(
                burst(service.base, payments, options.events, options.connections)
            )
        finally:
            service.stop()
    (twice,), (succeeded,), (paid,), (total,) = (
        sql(url, statement)[0][0]
        for statement in (
            "SELECT count(*) FROM (SELECT payment_id FROM ledger_transactions"
            " WHERE kind = 'payment' GROUP BY payment_id HAVING count(*) > 1) AS t",
            "SELECT count(*) FROM payments WHERE status = 'succeeded'",
            "SELECT count(*) FROM invoices WHERE status = 'paid'",
            "SELECT coalesce(sum(amount), 0) FROM ledger_entries",
        )
    )
    print(
        f"{options.events} signed events ({payments} payments, {options.events - payments} "
        f"replays), {options.connections} at a time, one worker: {elapsed:.2f} s, "
        f"{options.events / elapsed:.0f} events/s"
    )
    print(f"answers: {dict(sorted(outcomes.items()))}")
    print(
        f"payments succeeded {succeeded} of {payments}; invoices paid {paid}; "
        f"applied more than once: {twice}; ledger total {total}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])

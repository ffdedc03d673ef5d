"""`make multi-instance`: two instances of the service on one PostgreSQL and one Redis.

Nothing that must be shared may live in one process. The script creates a fresh database on
the server given by MULTI_INSTANCE_SERVER_URL (default postgresql://postgres@127.0.0.1:5432/
postgres; the database is `multi_instance`, dropped at the end unless --keep), migrates it once
(`python -m app migrate`), creates an admin, flushes one Redis database (MULTI_INSTANCE_REDIS_URL,
default redis://127.0.0.1:6379/13) and starts two uvicorn instances with the same DATABASE_URL,
REDIS_URL, SECRET_KEY and PHI_ENCRYPTION_KEYS, the same pictures (a shared MEDIA_DIR, or with
--pictures s3 a bucket on moto's S3 server) and each its own DATA_DIR. Then:

1. writes, spread concurrently over both instances: wallet changes of known amounts (some sent
   to both instances at once with one Idempotency-Key: exactly one may apply), and a counter kept
   in `added_note` by read-then-PATCH with If-Match, retried on 412; afterwards every balance must
   be the sum of the accepted amounts, every ledger must sum to its balance with one row per
   accepted change, and every counter must equal its number of successful PATCHes (each mismatch
   is a lost update). A picture uploaded to one instance must be served by the other.
2. the rate limit: both instances restarted with API_RATE_LIMIT=LIMIT/minute; 2 LIMIT + 10
   requests alternate between them, and exactly LIMIT of them may be accepted in all.

It prints requests, errors, lost updates and whether the rate limit is shared, and exits 1 when
there are errors or lost updates, or the limit or the pictures are not shared. The instances are
stopped at the end, also on failure and on Ctrl-C.

    .venv/bin/python -m scripts.multi_instance [--patients 6] [--wallet 40] [--increments 10]
        [--rate-limit 20] [--pictures folder|s3] [--keep]
"""

import argparse
import asyncio
import base64
import contextlib
import io
import logging
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis
from PIL import Image
from sqlalchemy.engine import make_url

from app.core.config import PROJECT_ROOT, Settings
from scripts.pgcluster import free_port
from scripts.processes import run_command, sigterm_as_interrupt, stop_server

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
ADMIN = ("multi-admin", "Lantern-Fjord-71")
READY_SECONDS = 60
COUNTER_ATTEMPTS = 200  # read-then-PATCH attempts for one increment before giving up
BUCKET = "multi-instance-pictures"


@dataclass
class Instance:
    name: str
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def where(client: httpx.AsyncClient) -> str:
    return str(client.base_url).rstrip("/")


@dataclass
class Tally:
    """Every request sent, by instance, and every unexpected answer."""

    requests: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    async def send(
        self, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
    ) -> httpx.Response | None:
        self.requests[where(client)] += 1
        try:
            return await client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            self.errors.append(f"{method} {where(client)}{url}: {type(error).__name__}")
            return None

    def unexpected(self, response: httpx.Response | None, what: str) -> None:
        if response is not None:
            self.errors.append(f"{what}: {response.status_code} {response.text[:200]}")


@dataclass
class Writes:
    accepted: dict[str, Decimal] = field(default_factory=dict)  # patient -> sum of amounts
    applied: Counter[str] = field(default_factory=Counter)  # patient -> wallet changes
    increments: Counter[str] = field(default_factory=Counter)  # patient -> successful PATCHes
    twins: int = 0
    replayed: int = 0
    in_progress: int = 0
    preconditions_failed: int = 0
    gave_up: int = 0


# --- the database, Redis and the instances ------------------------------------------------------


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def recreate_database(server_url: str, name: str, *, create: bool = True) -> str:
    connection = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return asyncpg_dsn(make_url(server_url).set(database=name).render_as_string(False))


def flush_redis(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def base_environment() -> dict[str, str]:
    """The caller's environment without any of the service's settings: only ours apply."""
    settings = {name.upper() for name in Settings.model_fields}
    env = {name: value for name, value in os.environ.items() if name.upper() not in settings}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start(instance: Instance, env: dict[str, str], cwd: Path) -> None:
    """uvicorn, as the Docker image runs it: migrations were applied once, beforehand."""
    with instance.log.open("ab") as log:
        instance.process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(instance.port),
                "--log-level",
                "warning",
                "--http",
                "app.core.server:BoundedHttpToolsProtocol",
                "--no-proxy-headers",
            ],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the script, which stops them in order
        )


def stop(instance: Instance) -> None:
    process, instance.process = instance.process, None
    if process is not None:
        stop_server(process)


async def wait_until_ready(instances: list[Instance]) -> None:
    deadline = time.monotonic() + READY_SECONDS
    async with httpx.AsyncClient(timeout=2) as client:
        for instance in instances:
            while True:
                process = instance.process
                if process is None or process.poll() is not None:
                    raise RuntimeError(f"{instance.name} exited; see {instance.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{instance.url}/readyz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{instance.name} not ready in {READY_SECONDS} s")
                await asyncio.sleep(0.2)


@contextlib.contextmanager
def s3_server() -> Iterator[dict[str, str]]:
    """moto's S3 server on a free port, a bucket on it, and the settings that name it."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    credentials = {
        "AWS_ACCESS_KEY_ID": "multi-instance",
        "AWS_SECRET_ACCESS_KEY": "multi-instance",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            region_name=credentials["AWS_DEFAULT_REGION"],
        ).create_bucket(Bucket=BUCKET)
        yield {
            **credentials,
            "PICTURES_S3_BUCKET": BUCKET,
            "PICTURES_S3_ENDPOINT_URL": endpoint,
        }
    finally:
        server.stop()


# --- phase 1: concurrent writes over both instances ----------------------------------------------


def patient_body(number: int) -> dict[str, Any]:
    return {
        "password": "multi-instance-password",
        "first_name": "Multi",
        "last_name": f"Instance{number}",
        "phone_no": f"+1555{uuid.uuid4().int % 10**8:08d}",
        "allergies_and_medication": "",
        "date_of_birth": "1985-06-15",
        "sex": "O",
    }


async def login(tally: Tally, client: httpx.AsyncClient) -> str:
    response = await tally.send(
        client, "POST", "/api/auth/token/", data={"username": ADMIN[0], "password": ADMIN[1]}
    )
    if response is None or response.status_code != 200:
        raise RuntimeError(f"login failed: {response.text if response else 'no response'}")
    token: str = response.json()["access_token"]
    return token


async def wallet_change(
    tally: Tally,
    writes: Writes,
    clients: list[httpx.AsyncClient],
    turn: int,
    patient: str,
    amount: Decimal,
    twin: bool,
) -> None:
    url = f"/api/patients/{patient}/update_wallet/"
    body = {"amount": str(amount), "reason": "multi-instance load"}
    if not twin:
        response = await tally.send(clients[turn % 2], "POST", url, json=body)
        if response is not None and response.status_code == 200:
            writes.accepted[patient] += amount
            writes.applied[patient] += 1
        else:
            tally.unexpected(response, f"update_wallet on {where(clients[turn % 2])}")
        return
    # The same request with one key to both instances at once: it must apply exactly once.
    headers = {"Idempotency-Key": f'"multi-{uuid.uuid4().hex}"'}
    responses = await asyncio.gather(
        *(tally.send(client, "POST", url, json=body, headers=headers) for client in clients)
    )
    writes.twins += 1
    statuses = [response.status_code if response else None for response in responses]
    for response in responses:
        if response is not None and response.status_code == 200:
            if response.headers.get("idempotent-replayed") == "true":
                writes.replayed += 1
        elif response is not None and response.status_code == 409:
            writes.in_progress += 1
        else:
            tally.unexpected(response, "update_wallet with an Idempotency-Key")
    if 200 in statuses:
        writes.accepted[patient] += amount
        writes.applied[patient] += 1


async def increment(
    tally: Tally, writes: Writes, clients: list[httpx.AsyncClient], turn: int, patient: str
) -> None:
    """Read the counter from one instance, write counter + 1 to the other with If-Match."""
    url = f"/api/patients/{patient}/"
    for attempt in range(COUNTER_ATTEMPTS):
        reader, writer = clients[(turn + attempt) % 2], clients[(turn + attempt + 1) % 2]
        read = await tally.send(reader, "GET", url)
        if read is None or read.status_code != 200:
            tally.unexpected(read, f"GET patient on {where(reader)}")
            return
        count = int(read.json()["added_note"] or 0)
        written = await tally.send(
            writer,
            "PATCH",
            url,
            json={"added_note": str(count + 1)},
            headers={"If-Match": read.headers["etag"]},
        )
        if written is not None and written.status_code == 200:
            writes.increments[patient] += 1
            return
        if written is None or written.status_code != 412:
            tally.unexpected(written, f"PATCH with If-Match on {where(writer)}")
            return
        writes.preconditions_failed += 1
    writes.gave_up += 1


async def limited(semaphore: asyncio.Semaphore, work: Any) -> None:
    async with semaphore:
        await work


async def ledger(tally: Tally, client: httpx.AsyncClient, patient: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    url: str | None = f"/api/patients/{patient}/wallet_transactions/?page_size=100"
    while url:
        response = await tally.send(client, "GET", url)
        if response is None or response.status_code != 200:
            tally.unexpected(response, "wallet_transactions")
            return rows
        page = response.json()
        rows.extend(page["results"])
        url = page["next"]
    return rows


async def check_writes(
    tally: Tally, writes: Writes, clients: list[httpx.AsyncClient], patients: list[str]
) -> dict[str, int]:
    """Each patient's balance, ledger and counter, read back from alternate instances."""
    wrong = Counter[str]()
    for number, patient in enumerate(patients):
        client = clients[number % 2]
        response = await tally.send(client, "GET", f"/api/patients/{patient}/")
        if response is None or response.status_code != 200:
            tally.unexpected(response, "GET patient")
            continue
        body = response.json()
        balance = Decimal(body["wallet_balance"])
        if balance != writes.accepted[patient]:
            wrong["balances"] += 1
            print(f"  {patient}: balance {balance}, accepted {writes.accepted[patient]}")
        if int(body["added_note"] or 0) != writes.increments[patient]:
            wrong["counters"] += 1
            print(
                f"  {patient}: counter {body['added_note']}, PATCHed {writes.increments[patient]}"
            )
        rows = await ledger(tally, clients[(number + 1) % 2], patient)
        total = sum((Decimal(row["amount"]) for row in rows), Decimal(0))
        newest = Decimal(rows[0]["balance_after"]) if rows else Decimal(0)
        if total != balance or newest != balance or len(rows) != writes.applied[patient]:
            wrong["ledgers"] += 1
            print(f"  {patient}: ledger of {len(rows)} rows sums to {total}, balance {balance}")
    return {kind: wrong[kind] for kind in ("balances", "ledgers", "counters")}


def png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(out, "PNG")
    return out.getvalue()


async def pictures_shared(tally: Tally, clients: list[httpx.AsyncClient], patient: str) -> bool:
    """Uploaded to one instance, served by the other; replaced there, served by the first."""
    url = f"/api/patients/{patient}/profile_picture/"
    for writer, reader, colour in ((0, 1, (200, 30, 30)), (1, 0, (30, 30, 200))):
        files = {"file": ("picture.png", png(colour), "image/png")}
        put = await tally.send(clients[writer], "PUT", url, files=files)
        if put is None or put.status_code != 200:
            tally.unexpected(put, "PUT profile_picture")
            return False
        got = await tally.send(clients[reader], "GET", url)
        if got is None or got.status_code != 200:
            tally.unexpected(got, "GET profile_picture from the other instance")
            return False
        if Image.open(io.BytesIO(got.content)).getpixel((0, 0)) != colour:
            return False
    return True


async def write_phase(
    args: argparse.Namespace, instances: list[Instance], tally: Tally
) -> tuple[Writes, dict[str, int], bool]:
    randomness = random.Random(args.seed)  # noqa: S311 - amounts, not secrets
    limits = httpx.Limits(max_connections=args.concurrency)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=instance.url, timeout=30, limits=limits)
            )
            for instance in instances
        ]
        token = await login(tally, clients[0])
        for client in clients:  # one token, signed by one instance, good on both
            client.headers["Authorization"] = f"Bearer {token}"
        patients: list[str] = []
        for number in range(args.patients):
            response = await tally.send(
                clients[number % 2], "POST", "/api/patients/", json=patient_body(number)
            )
            if response is None or response.status_code != 201:
                raise RuntimeError(f"creating a patient failed: {response and response.text}")
            patients.append(response.json()["id"])
        writes = Writes(accepted=dict.fromkeys(patients, Decimal(0)))
        work: list[Any] = []
        for patient in patients:
            for _ in range(args.wallet):
                amount = Decimal(randomness.randint(1, 2500)) / 100
                work.append((wallet_change, patient, amount, randomness.random() < 0.2))
            work.extend((increment, patient) for _ in range(args.increments))
        randomness.shuffle(work)
        semaphore = asyncio.Semaphore(args.concurrency)
        jobs = []
        for turn, (job, patient, *rest) in enumerate(work):
            if job is wallet_change:
                call = wallet_change(tally, writes, clients, turn, patient, *rest)
            else:
                call = increment(tally, writes, clients, turn, patient)
            jobs.append(limited(semaphore, call))
        await asyncio.gather(*jobs)
        wrong = await check_writes(tally, writes, clients, patients)
        shared = await pictures_shared(tally, clients, patients[0])
    return writes, wrong, shared


# --- phase 2: one rate limit for both ------------------------------------------------------------


async def rate_limit_phase(
    args: argparse.Namespace, instances: list[Instance], tally: Tally
) -> tuple[Counter[str], Counter[str], bool]:
    """2 LIMIT + 10 requests, alternating: LIMIT accepted in all, then only 429s, on both."""
    accepted, throttled = Counter[str](), Counter[str]()
    statuses: list[int | None] = []
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=instance.url, timeout=30))
            for instance in instances
        ]
        token = await login(tally, clients[1])
        for number in range(2 * args.rate_limit + 10):
            client = clients[number % 2]
            response = await tally.send(
                client, "GET", "/api/patients/", headers={"Authorization": f"Bearer {token}"}
            )
            statuses.append(response.status_code if response else None)
            if response is not None and response.status_code == 200:
                accepted[where(client)] += 1
            elif response is not None and response.status_code == 429:
                throttled[where(client)] += 1
                if not response.headers.get("retry-after", "").isdigit():
                    tally.errors.append("a 429 without Retry-After")
            else:
                tally.unexpected(response, "GET /api/patients/ under the rate limit")
    limit = args.rate_limit
    shared = (
        statuses[:limit] == [200] * limit
        and all(status == 429 for status in statuses[limit:])
        and all(throttled[where(client)] for client in clients)
    )
    return accepted, throttled, shared


# --- the run -------------------------------------------------------------------------------------


def tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run(args: argparse.Namespace, workdir: Path, instances: list[Instance]) -> int:
    started = time.monotonic()
    database_url = asyncio.run(recreate_database(args.server_url, args.database))
    flush_redis(args.redis_url)
    with contextlib.ExitStack() as stack:
        env = base_environment()
        env.update(
            ENVIRONMENT="production",
            DATABASE_URL=database_url,
            REDIS_URL=args.redis_url,
            SECRET_KEY=secrets.token_urlsafe(48),
            PHI_ENCRYPTION_KEYS="multi1:" + base64.b64encode(os.urandom(32)).decode(),
            MEDIA_DIR=str(workdir / "shared-media"),
            LOG_LEVEL="warning",
            ALLOWED_HOSTS='["127.0.0.1"]',  # production serves only the hosts it is told
            METRICS_ALLOWED_NETWORKS='["127.0.0.0/8"]',  # production's /metrics is not open
        )
        if args.pictures == "s3":
            env.update(stack.enter_context(s3_server()))
            where = f"bucket {BUCKET} on moto's S3 server {env['PICTURES_S3_ENDPOINT_URL']}"
        else:
            where = f"the shared folder {workdir / 'shared-media'}"
        # Migrations run once, before any instance starts.
        run_command(["migrate"], env, workdir)
        run_command(
            ["createsuperuser", "--username", ADMIN[0], "--password", ADMIN[1]], env, workdir
        )
        print(
            f"multi-instance: 2 instances ({', '.join(i.url for i in instances)}) on database "
            f"{args.database}, Redis {args.redis_url}, pictures in {where}"
        )

        def start_pair(api_rate_limit: str) -> None:
            for instance in instances:
                data_dir = workdir / instance.name / "data"  # each its own: nothing shared there
                start(
                    instance,
                    {**env, "DATA_DIR": str(data_dir), "API_RATE_LIMIT": api_rate_limit},
                    workdir,
                )
            asyncio.run(wait_until_ready(instances))

        def stop_pair() -> None:
            for instance in instances:
                stop(instance)

        tally = Tally()
        start_pair("1000000/minute")
        writes, wrong, pictures = asyncio.run(write_phase(args, instances, tally))
        stop_pair()

        flush_redis(args.redis_url)
        start_pair(f"{args.rate_limit}/minute")
        accepted, throttled, limit_shared = asyncio.run(rate_limit_phase(args, instances, tally))
        stop_pair()

    lost = sum(wrong.values())
    total_accepted = sum(accepted.values())
    by_instance = ", ".join(
        f"{instance.name}: {tally.requests[instance.url]}" for instance in instances
    )
    print(f"requests: {sum(tally.requests.values())} ({by_instance})")
    print(f"errors: {len(tally.errors)}")
    for error in tally.errors[:10]:
        print(f"  {error}")
    applied = sum(writes.applied.values())
    print(
        f"wallet changes: {applied} applied; {writes.twins} sent to both instances with one "
        f"Idempotency-Key, each applied once ({writes.replayed} replayed, "
        f"{writes.in_progress} answered 409 while the first ran)"
    )
    print(
        f"PATCHes with If-Match: {sum(writes.increments.values())} applied, "
        f"{writes.preconditions_failed} refused with 412 and retried, {writes.gave_up} gave up"
    )
    print(
        f"lost updates: {lost} (wrong balances {wrong['balances']}, ledgers {wrong['ledgers']}, "
        f"counters {wrong['counters']} of {args.patients} patients)"
    )
    print(f"pictures shared: {'yes' if pictures else 'no'}")
    split = " + ".join(str(accepted[instance.url]) for instance in instances)
    print(
        f"rate limit shared: {'yes' if limit_shared else 'no'} ({args.rate_limit}/minute: "
        f"{total_accepted} of {2 * args.rate_limit + 10} requests accepted across both instances "
        f"({split}), {sum(throttled.values())} answered 429)"
    )
    print(f"elapsed: {time.monotonic() - started:.1f} s")
    failed = tally.errors or lost or writes.gave_up or not limit_shared or not pictures
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.multi_instance",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--server-url",
        default=os.environ.get("MULTI_INSTANCE_SERVER_URL", DEFAULT_SERVER_URL),
        help="a PostgreSQL server where the script may create a database (default: %(default)s)",
    )
    parser.add_argument("--database", default="multi_instance")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("MULTI_INSTANCE_REDIS_URL", DEFAULT_REDIS_URL),
        help="a Redis database the script may flush (default: %(default)s)",
    )
    parser.add_argument("--patients", type=int, default=6)
    parser.add_argument("--wallet", type=int, default=40, help="wallet changes per patient")
    parser.add_argument("--increments", type=int, default=10, help="counter PATCHes per patient")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate-limit", type=int, default=20, help="requests per minute")
    parser.add_argument("--pictures", choices=("folder", "s3"), default="folder")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="therapy-multi-"))
    instances = [
        Instance(f"instance {number}", free_port(), workdir / f"instance-{number}.log")
        for number in (1, 2)
    ]
    status = 1
    try:
        with sigterm_as_interrupt():
            status = run(args, workdir, instances)
    except KeyboardInterrupt:
        print("multi-instance: interrupted; cleaning up", file=sys.stderr)
        status = 130
    except (RuntimeError, OSError, asyncpg.PostgresError, redis.RedisError) as error:
        print(f"multi-instance: {error}", file=sys.stderr)
        for instance in instances:
            if log := tail(instance.log):
                print(f"--- {instance.name} ({instance.log}):\n{log}", file=sys.stderr)
    finally:
        for instance in instances:
            stop(instance)
        if args.keep:
            print(f"multi-instance: kept database {args.database} and {workdir}")
        else:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                asyncio.run(recreate_database(args.server_url, args.database, create=False))
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())

"""`make chaos`: stop PostgreSQL in the middle of a write load, then send the server SIGTERM.

Everything runs against a throwaway PostgreSQL and a service started for the occasion, both
removed at the end (also on Ctrl-C). The script fails (exit status 1) when an acknowledged
write is missing afterwards, when any response is a 5xx other than 503, when a request hangs
(no response in HANG_SECONDS) or takes longer than FAIL_FAST_SECONDS to fail, when /readyz is not
503 during the outage or does not recover, or when a request in flight at SIGTERM gets no
response. Responses slower than SLOW_SECONDS are counted, and the slowest 503 of a request sent
while PostgreSQL was down is shown: those measure the machine as much as the service (creates
hash a password with Argon2 at production cost, and other requests queue behind them for the CPU
and for pooled connections), so they are reported rather than judged.

    .venv/bin/python -m scripts.chaos [--clients 40] [--duration 30] [--outage 7] [--keep]
"""

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from scripts.pgcluster import Cluster, ClusterError, free_port
from scripts.processes import run_command, sigterm_as_interrupt, stop_server

SLOW_SECONDS = 5.0  # reported
# No 503 may take longer, even for a request that was queued (for the CPU, for a pooled
# connection) when the fault hit: DB_POOL_TIMEOUT + DB_CONNECT_TIMEOUT and slack for a busy machine.
FAIL_FAST_SECONDS = 12.0
HANG_SECONDS = 20.0  # no response by then: the request hung
DATABASE = "therapy"
ADMIN = ("chaos-admin", "Lantern-Fjord-71")
WALLET_PATIENTS = 40
SIGTERM_REQUESTS = 16

# Recognisable values, so the server log can be searched for them afterwards.
FIRST_NAME, LAST_NAME = "Chaosina", "Outagewska"
MEDICAL = "Chaotic penicillin allergy"
PHONE_PREFIX = "+1555"
PHI_IN_LOG = re.compile(rf"{FIRST_NAME}|{LAST_NAME}|{MEDICAL}|\+?1555\d{{8}}")

_phones = itertools.count(1)


@dataclass
class Outcome:
    kind: str  # "create" or "wallet"
    key: str  # the phone number of a create, the reason token of a wallet change
    sent: float
    elapsed: float
    status: int | None = None  # None: no response at all
    body: Any = None
    error: str | None = None
    patient: str | None = None  # the wallet changed

    @property
    def acknowledged(self) -> bool:
        return self.status in (200, 201)


@dataclass
class Run:
    outcomes: list[Outcome] = field(default_factory=list)
    readyz_during_outage: list[tuple[int | None, float]] = field(default_factory=list)
    stopped_at: float = 0.0
    back_at: float | None = None
    ready_at: float | None = None
    failures: list[str] = field(default_factory=list)


def patient_body() -> dict[str, Any]:
    return {
        "password": "chaos-password",
        "first_name": FIRST_NAME,
        "last_name": LAST_NAME,
        "phone_no": f"{PHONE_PREFIX}{next(_phones):08d}",
        "allergies_and_medication": MEDICAL,
        "date_of_birth": "1980-01-31",
        "sex": "O",
    }


def service_environment(database_url: str, data_dir: Path, port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "SECRET_KEY", "PHI_ENCRYPTION_KEYS", "MEDIA_DIR")
    }
    env.update(
        ENVIRONMENT="development",
        DATABASE_URL=database_url,
        DATA_DIR=str(data_dir),
        HOST="127.0.0.1",
        PORT=str(port),
        LOG_LEVEL="info",
        API_RATE_LIMIT="10000000/minute",
        LOGIN_RATE_LIMIT="1000/minute",
        PYTHONUNBUFFERED="1",
    )
    return env


async def wait_until_ready(client: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the service exited with status {server.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if (await client.get("/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError("the service did not become ready within 60 s")


async def send(
    client: httpx.AsyncClient, kind: str, key: str, url: str, body: Any, patient: str | None = None
) -> Outcome:
    sent = time.monotonic()
    outcome = Outcome(kind=kind, key=key, sent=sent, elapsed=0.0, patient=patient)
    try:
        response = await client.post(url, json=body)
    except httpx.TimeoutException:
        outcome.error = "hung"
    except httpx.TransportError as error:
        outcome.error = type(error).__name__
    else:
        outcome.status = response.status_code
        try:
            outcome.body = response.json()
        except ValueError:
            outcome.body = response.text
    outcome.elapsed = time.monotonic() - sent
    return outcome


async def create(client: httpx.AsyncClient) -> Outcome:
    body = patient_body()
    return await send(client, "create", body["phone_no"], "/api/patients/", body)


async def wallet(client: httpx.AsyncClient, patient_id: str) -> Outcome:
    reason = f"chaos-{uuid.uuid4().hex}"
    url = f"/api/patients/{patient_id}/update_wallet/"
    body = {"amount": "1.00", "reason": reason}
    return await send(client, "wallet", reason, url, body, patient=patient_id)


async def client_loop(
    client: httpx.AsyncClient, patients: list[str], until: float, creates: float, run: Run
) -> None:
    while time.monotonic() < until:
        if random.random() < creates:  # noqa: S311
            outcome = await create(client)
        else:
            outcome = await wallet(client, random.choice(patients))  # noqa: S311
        run.outcomes.append(outcome)
        if outcome.status == 503:
            await asyncio.sleep(0.1)  # a well-behaved client backs off a little


async def readyz(client: httpx.AsyncClient) -> tuple[int | None, float]:
    started = time.monotonic()
    try:
        status: int | None = (await client.get("/readyz")).status_code
    except httpx.HTTPError:
        status = None
    return status, time.monotonic() - started


async def outage(
    client: httpx.AsyncClient, cluster: Cluster, args: argparse.Namespace, run: Run
) -> None:
    """Stop PostgreSQL, watch /readyz say 503, start it again, and time the recovery."""
    await asyncio.sleep(args.outage_at)
    run.stopped_at = time.monotonic()
    await asyncio.to_thread(cluster.stop, args.stop_mode)
    while time.monotonic() < run.stopped_at + args.outage:
        run.readyz_during_outage.append(await readyz(client))
        await asyncio.sleep(0.5)
    await asyncio.to_thread(cluster.start)
    run.back_at = time.monotonic()
    while time.monotonic() < run.back_at + 60:
        status, _ = await readyz(client)
        if status == 200:
            run.ready_at = time.monotonic()
            return
        await asyncio.sleep(0.1)


async def load(
    client: httpx.AsyncClient, cluster: Cluster, args: argparse.Namespace, patients: list[str]
) -> Run:
    run = Run()
    until = time.monotonic() + args.duration
    await asyncio.gather(
        outage(client, cluster, args, run),
        *(client_loop(client, patients, until, args.creates, run) for _ in range(args.clients)),
    )
    return run


async def found_writes(database_url: str, acknowledged: list[Outcome]) -> dict[str, int]:
    """How many acknowledged writes are in the database, by kind, and the ledger's coherence."""
    connection = await asyncpg.connect(database_url)
    try:
        phones = {o.key: o.body["id"] for o in acknowledged if o.kind == "create"}
        rows = await connection.fetch(
            "SELECT id, phone_no FROM patients WHERE phone_no = ANY($1::text[])", list(phones)
        )
        creates = sum(1 for row in rows if phones[row["phone_no"]] == row["id"])
        history = await wallet_history(connection)
        result = {"create": creates, "ledger": int(history is not None)}
        if history is not None:
            reasons = [o.key for o in acknowledged if o.kind == "wallet"]
            result["wallet"] = await connection.fetchval(
                f"SELECT count(DISTINCT reason) FROM {history} AS w"  # noqa: S608 - ours
                " WHERE reason = ANY($1::text[])",
                reasons,
            )
            # The history is one of our two constants (wallet_history).
            incoherent = (
                "SELECT count(*) FROM patients p WHERE p.wallet_balance <> COALESCE("  # noqa: S608
                f"(SELECT sum(w.amount) FROM {history} AS w WHERE w.patient_id = p.id), 0)"
            )
            result["incoherent_wallets"] = await connection.fetchval(incoherent)
        return result
    finally:
        await connection.close()


# The wallet's history, as (patient_id, amount, reason) rows: the ledger's wallet entries since
# migration 0020, the table wallet_transactions before it (an older checkout), none before 0003.
LEDGER_WALLET = (
    "(SELECT e.patient_id, -e.amount AS amount, t.memo AS reason FROM ledger_entries e"
    " JOIN ledger_transactions t ON t.id = e.transaction_id WHERE e.account = 'wallet')"
)


async def wallet_history(connection: Any) -> str | None:
    if await connection.fetchval("SELECT to_regclass('public.ledger_entries') IS NOT NULL"):
        return LEDGER_WALLET
    if await connection.fetchval("SELECT to_regclass('public.wallet_transactions') IS NOT NULL"):
        return "wallet_transactions"
    return None


async def wallet_bounds(database_url: str, outcomes: list[Outcome]) -> tuple[int, int]:
    """Without a ledger, each wallet must hold at least its acknowledged changes and at most
    all that were sent (a 503 may follow a commit). Returns (acknowledged found, over-counted)."""
    acknowledged: Counter[str] = Counter()
    attempted: Counter[str] = Counter()
    for outcome in outcomes:
        if outcome.kind == "wallet" and (patient := outcome.patient) is not None:
            attempted[patient] += 1
            acknowledged[patient] += outcome.acknowledged
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT id, wallet_balance FROM patients WHERE id = ANY($1::text[])", list(attempted)
        )
    finally:
        await connection.close()
    found = over = 0
    for row in rows:
        balance = int(row["wallet_balance"])
        found += min(balance, acknowledged[row["id"]])
        over += max(0, balance - attempted[row["id"]])
    return found, over


async def committed_anyway(database_url: str, outcomes: list[Outcome]) -> str:
    """Writes answered 503 that are there all the same: the commit reached the disk, the
    acknowledgement did not reach the service. Allowed, and worth knowing."""
    phones = [o.key for o in outcomes if o.kind == "create" and not o.acknowledged]
    reasons = [o.key for o in outcomes if o.kind == "wallet" and not o.acknowledged]
    connection = await asyncpg.connect(database_url)
    try:
        creates = await connection.fetchval(
            "SELECT count(*) FROM patients WHERE phone_no = ANY($1::text[])", phones
        )
        history = await wallet_history(connection)
        if history is None:
            return f"{creates} creates"
        wallets = await connection.fetchval(
            f"SELECT count(*) FROM {history} AS w WHERE reason = ANY($1::text[])",  # noqa: S608
            reasons,
        )
        return f"{creates} creates, {wallets} wallet changes"
    finally:
        await connection.close()


async def sigterm_in_flight(
    client: httpx.AsyncClient, server: subprocess.Popen[bytes], database_url: str, patient: str
) -> dict[str, Any]:
    """Hold requests in flight on a row lock, send SIGTERM, release the lock: all must answer."""
    locker = await asyncpg.connect(database_url)
    # Outside the lock's transaction: pg_stat_activity is a snapshot for a whole transaction.
    observer = await asyncpg.connect(database_url)
    transaction = locker.transaction()
    await transaction.start()
    await locker.execute("SELECT 1 FROM patients WHERE id = $1 FOR UPDATE", patient)
    requests = [asyncio.ensure_future(wallet(client, patient)) for _ in range(SIGTERM_REQUESTS)]
    try:
        waiting = 0
        deadline = time.monotonic() + 8
        while waiting < SIGTERM_REQUESTS and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            waiting = await observer.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state = 'active' AND wait_event_type = 'Lock'"
            )
        server.send_signal(signal.SIGTERM)
        await asyncio.sleep(1.5)
        alive_while_draining = server.poll() is None
    finally:
        await transaction.rollback()
        released_at = time.monotonic()
        await locker.close()
        await observer.close()
    outcomes = await asyncio.gather(*requests)
    exit_code = await asyncio.to_thread(server.wait, 30)
    return {
        "in_flight": waiting,
        "outcomes": outcomes,
        "alive_while_draining": alive_while_draining,
        "exit_code": exit_code,
        "exit_after": time.monotonic() - released_at,
    }


STACK_FRAME = re.compile(r'^\s*(Traceback \(most recent call last\)|File ".*", line \d+)')


def log_findings(log: Path) -> tuple[int, int]:
    """Lines of the server log that are part of a stack trace, and lines with patient data."""
    lines = log.read_text(errors="replace").splitlines()
    frames = sum(bool(STACK_FRAME.match(line)) for line in lines)
    phi = sum(bool(PHI_IN_LOG.search(line)) for line in lines)
    return frames, phi


def report(title: str, value: object) -> None:
    print(f"  {title + ':':<52} {value}")


def check(run: Run, condition: bool, failure: str) -> None:
    if not condition:
        run.failures.append(failure)


def start_server(env: dict[str, str], workdir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """`python -m app serve`, as `make run` starts it, logging to a file."""
    log = workdir / "server.log"
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"],
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the script, which stops it in order
        )
    return server, log


async def exercise(
    args: argparse.Namespace,
    cluster: Cluster,
    server: subprocess.Popen[bytes],
    database_url: str,
    port: int,
) -> Run:
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them, so a
    # request never races the server's close (which would be the client's fault, not the fault's).
    limits = httpx.Limits(
        max_connections=args.clients + 10, max_keepalive_connections=None, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=HANG_SECONDS, limits=limits
    ) as client:
        await wait_until_ready(client, server)
        login = await client.post(
            "/api/auth/token/", data={"username": ADMIN[0], "password": ADMIN[1]}
        )
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        seeds = [await create(client) for _ in range(WALLET_PATIENTS)]
        if not all(seed.status == 201 for seed in seeds):
            raise RuntimeError(f"could not create the patients to load: {seeds[0]}")
        patients = [seed.body["id"] for seed in seeds]

        print(f"chaos: PostgreSQL from {cluster.bindir} on port {cluster.port}")
        print(f"chaos: service (python -m app serve) on port {port}")
        print(
            f"chaos: {args.clients} clients writing for {args.duration:.0f} s; PostgreSQL stopped"
            f" ({args.stop_mode}) at {args.outage_at:.0f} s for {args.outage:.0f} s",
            flush=True,
        )
        run = await load(client, cluster, args, patients)
        await verify(run, database_url)
        await sigterm(run, client, server, database_url, patients[0])
    return run


def conclude(run: Run, log: Path) -> int:
    tracebacks, phi = log_findings(log)
    report("server log lines of a stack trace / with patient data", f"{tracebacks} / {phi}")
    check(run, tracebacks == 0, "the server logged a stack trace")
    graceful = "Application shutdown complete" in log.read_text(errors="replace")
    check(run, graceful, "the server did not shut down gracefully")
    check(run, phi == 0, "the server logged patient data")
    if run.failures:
        print("FAIL: " + "; ".join(run.failures))
        noteworthy = [
            line
            for line in log.read_text(errors="replace").splitlines()
            if not line.startswith("INFO")
        ]
        print("server log, apart from INFO lines (last 30):", *noteworthy[-30:], sep="\n  ")
        return 1
    print("PASS")
    return 0


async def verify(run: Run, database_url: str) -> None:
    outcomes = run.outcomes
    statuses = Counter(o.status if o.status is not None else o.error for o in outcomes)
    acknowledged = [o for o in outcomes if o.acknowledged]
    by_kind = Counter(o.kind for o in acknowledged)
    other_5xx = [
        o for o in outcomes if o.status is not None and o.status >= 500 and o.status != 503
    ]
    unexpected = [o for o in outcomes if o.status not in (200, 201, 503) and o.status is not None]
    hung = [o for o in outcomes if o.error == "hung"]
    transport = [o for o in outcomes if o.error is not None and o.error != "hung"]
    slow = [o for o in outcomes if o.elapsed > SLOW_SECONDS]
    slow_failures = [o for o in outcomes if not o.acknowledged and o.elapsed > FAIL_FAST_SECONDS]
    bad_503 = [
        o
        for o in outcomes
        if o.status == 503 and (not isinstance(o.body, dict) or set(o.body) != {"detail"})
    ]
    found = await found_writes(database_url, acknowledged)
    wallet_found = found.get("wallet")
    wallet_note = "by reason in the wallet's history"
    if wallet_found is None:
        # No ledger yet: a balance holds at least its acknowledged changes, at most all sent.
        wallet_found, over = await wallet_bounds(database_url, outcomes)
        wallet_note = "no ledger yet: checked by balances"
        check(run, over == 0, "a balance holds more changes than were sent")
    found_total = found["create"] + wallet_found
    late = await committed_anyway(database_url, outcomes)
    slowest = max((o.elapsed for o in outcomes), default=0.0)
    succeeded = sorted(o.elapsed for o in acknowledged)
    failing = [o for o in outcomes if o.status == 503]
    slowest_503 = max((o.elapsed for o in failing), default=0.0)
    slowest_503_during = max((o.elapsed for o in failing if _down(run, o)), default=0.0)

    report("requests sent", len(outcomes))
    report("  by status", ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str)))
    for phase in ("before", "during", "after"):
        sent = [o for o in outcomes if _phase(run, o).split()[2] == phase]
        shares = Counter(o.status or o.error for o in sent)
        report(
            f"  sent {phase} the outage",
            ", ".join(f"{k}: {v}" for k, v in sorted(shares.items(), key=str)),
        )
    report(
        "writes acknowledged",
        f"{len(acknowledged)} ({by_kind['create']} creates, {by_kind['wallet']} wallet changes)",
    )
    report(
        "acknowledged writes found afterwards",
        f"{found_total} ({found['create']} creates, {wallet_found} wallet changes, {wallet_note})",
    )
    report("writes answered 503 but committed all the same", late)
    report("5xx other than 503", len(other_5xx))
    report("other unexpected statuses / transport errors", f"{len(unexpected)} / {len(transport)}")
    report("503 bodies other than {'detail': ...}", len(bad_503))
    report(
        f"responses slower than {SLOW_SECONDS:.0f} s / hung (none in {HANG_SECONDS:.0f} s)",
        f"{len(slow)} / {len(hung)} (slowest {slowest:.2f} s, slowest 503 {slowest_503:.2f} s,"
        f" {slowest_503_during:.2f} s if sent while PostgreSQL was down)",
    )
    if succeeded:
        report(
            "seconds per acknowledged write: median / 95th pct",
            f"{succeeded[len(succeeded) // 2]:.2f} / {succeeded[len(succeeded) * 95 // 100]:.2f}",
        )
    if slow:
        report("  slow ones by phase and kind", dict(Counter(_phase(run, o) for o in slow)))
    probes = run.readyz_during_outage
    report(
        "/readyz while PostgreSQL was down",
        f"{len(probes)} probes: {dict(Counter(status for status, _ in probes))},"
        f" slowest {max((e for _, e in probes), default=0.0):.2f} s",
    )
    if run.back_at is not None:
        writes_after = [o.sent + o.elapsed for o in acknowledged if o.sent >= run.back_at]
        first_write = min(writes_after, default=None)
        report(
            "seconds to recover (PostgreSQL back -> write / readyz)",
            f"first successful write {_since(first_write, run.back_at)},"
            f" /readyz 200 {_since(run.ready_at, run.back_at)}",
        )
        check(run, first_write is not None, "no successful write after PostgreSQL came back")
        check(run, run.ready_at is not None, "/readyz never said 200 again")
    else:
        check(run, False, "PostgreSQL was not started again")
    if "incoherent_wallets" in found:
        report("wallets whose ledger does not sum to the balance", found["incoherent_wallets"])
        check(run, found["incoherent_wallets"] == 0, "a wallet's ledger disagrees with it")

    check(run, found["create"] == by_kind["create"], "acknowledged creates are missing")
    check(run, wallet_found == by_kind["wallet"], "acknowledged wallet changes are missing")
    check(run, not other_5xx, "5xx other than 503")
    check(run, not unexpected, f"unexpected statuses {sorted({o.status or 0 for o in unexpected})}")
    check(
        run,
        not transport,
        f"requests failed without a response: {dict(Counter(_phase(run, o) for o in transport))}",
    )
    check(run, not bad_503, "a 503 without a {'detail': ...} body")
    check(run, not hung, "requests hung")
    check(run, not slow_failures, f"failures too slow: {[_phase(run, o) for o in slow_failures]}")
    check(run, bool(probes), "/readyz was not probed during the outage")
    check(run, all(status == 503 for status, _ in probes), "/readyz was not 503 during the outage")
    check(run, any(o.status == 503 for o in outcomes), "no request saw the outage")


async def sigterm(
    run: Run,
    client: httpx.AsyncClient,
    server: subprocess.Popen[bytes],
    database_url: str,
    patient: str,
) -> None:
    result = await sigterm_in_flight(client, server, database_url, patient)
    outcomes: list[Outcome] = result["outcomes"]
    answered = [o for o in outcomes if o.status is not None]
    statuses = Counter(o.status for o in answered)
    found = await found_writes(database_url, [o for o in outcomes if o.acknowledged])
    report(
        "SIGTERM: requests in flight / completed with a response",
        f"{result['in_flight']} / {len(answered)} ({dict(statuses)})",
    )
    report(
        "SIGTERM: server exit status, seconds after the last request",
        f"{result['exit_code']}, {result['exit_after']:.2f} s",
    )
    check(run, result["in_flight"] == SIGTERM_REQUESTS, "the requests were not all in flight")
    check(run, result["alive_while_draining"], "the server exited with requests in flight")
    check(run, len(answered) == len(outcomes), "requests in flight at SIGTERM got no response")
    check(run, statuses == {200: len(outcomes)}, "requests in flight at SIGTERM did not succeed")
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught.
    clean = result["exit_code"] in (0, -signal.SIGTERM)
    check(run, clean, "the server did not exit cleanly after SIGTERM")
    if found.get("wallet") is not None:
        check(run, found["wallet"] == len(outcomes), "writes finished at SIGTERM are missing")


def _phase(run: Run, outcome: Outcome) -> str:
    """When a request was sent, relative to the outage, and what it was."""
    if outcome.sent < run.stopped_at:
        phase = "before"
    elif run.back_at is None or outcome.sent < run.back_at:
        phase = "during"
    else:
        phase = "after"
    return f"{outcome.kind} sent {phase} the outage, {outcome.status or outcome.error}"


def _down(run: Run, outcome: Outcome) -> bool:
    return run.stopped_at <= outcome.sent and (run.back_at is None or outcome.sent < run.back_at)


def _since(moment: float | None, origin: float) -> str:
    return "never" if moment is None else f"{moment - origin:.2f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.chaos", description=__doc__)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument(
        "--creates", type=float, default=0.25, help="share of the writes that create a patient"
    )
    parser.add_argument("--outage-at", type=float, default=10.0)
    parser.add_argument("--outage", type=float, default=7.0)
    parser.add_argument("--stop-mode", choices=("immediate", "fast"), default="immediate")
    parser.add_argument("--keep", action="store_true", help="keep the server log and the cluster")
    args = parser.parse_args(argv)
    if args.outage_at + args.outage + 2 > args.duration:
        parser.error("the outage must end at least 2 s before the load does (see --duration)")
    workdir = Path(tempfile.mkdtemp(prefix="therapy-chaos-"))
    cluster: Cluster | None = None
    server: subprocess.Popen[bytes] | None = None
    try:
        with sigterm_as_interrupt():
            cluster = Cluster(prefix="therapy-chaos-pg-")
            cluster.start()
            cluster.create_database(DATABASE)
            database_url = cluster.url(DATABASE)
            port = free_port()
            env = service_environment(database_url, workdir / "data", port)
            run_command(["migrate"], env, workdir)
            run_command(
                ["createsuperuser", "--username", ADMIN[0], "--password", ADMIN[1]], env, workdir
            )
            server, log = start_server(env, workdir)
            run = asyncio.run(exercise(args, cluster, server, database_url, port))
            return conclude(run, log)
    except KeyboardInterrupt:
        print("chaos: interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        if server is not None:
            stop_server(server)
        if args.keep:
            if cluster is not None and cluster.running:
                with contextlib.suppress(ClusterError, subprocess.SubprocessError):
                    cluster.stop("fast")
            print(f"chaos: kept {workdir} and {cluster.root if cluster else 'no cluster'}")
        else:
            if cluster is not None:
                cluster.destroy()
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""A streaming replica's lag under the service's write load, measured on this machine.

Makes a primary (its own PostgreSQL in a temporary folder) and a streaming replica of it
(`pg_basebackup -R`, its own port), migrates and seeds the primary, serves the API on it with
uvicorn as the image does, and drives it with wrk (bench/wrk.lua) for each operation asked.
Meanwhile it samples `pg_stat_replication` on the primary (write, flush and replay lag, and the
bytes of WAL the replica has not yet replayed), reads patient lists from the replica with the
service's own repository, and times how long a wallet change the API has just answered takes to
become visible on the replica (a read after a write sent there). It prints what it measured as
Markdown, with the WAL and the audit trail's rows and bytes per request, then stops everything
it started. Never touches any other PostgreSQL.

    python -m scripts.replica_lag [--patients 10000] [--seconds 30] [--ops update_wallet get]
"""

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app.core.config import Settings
from app.core.crypto import Keyring
from app.db.database import Database
from app.db.types import use_keyring
from app.patients.repository import PatientRepository
from app.patients.schemas import PatientListQuery
from bench.common import percentile
from scripts.multi_instance import base_environment
from scripts.pgcluster import Cluster, free_port
from scripts.processes import run_command, served

ROOT = Path(__file__).resolve().parent.parent
ADMIN = ("replica-admin", "Quartz-Heron-58")
DATABASE = "therapy"
PROBES = 5  # patients kept out of wrk's load: the read-after-write probe changes only them
SAMPLE_SECONDS = 0.25
LAG_QUERY = """
SELECT write_lag, flush_lag, replay_lag,
       pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn)::bigint AS unsent,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS unreplayed
FROM pg_stat_replication
"""
AUDIT_SIZES = """
SELECT (SELECT count(*) FROM audit_events) AS events,
       coalesce(sum(pg_table_size(i.inhrelid)), 0)::bigint AS heap,
       coalesce(sum(pg_indexes_size(i.inhrelid)), 0)::bigint AS indexes
FROM pg_inherits i WHERE i.inhparent = 'audit_events'::regclass
"""
WAL_STATS = "SELECT wal_records, wal_fpi FROM pg_stat_wal"
INDEX_SIZES = """
SELECT x.indexrelid::regclass::text AS name,
       (SELECT sum(pg_relation_size(t.relid)) FROM pg_partition_tree(x.indexrelid) t)::bigint
         AS bytes
FROM pg_index x WHERE x.indrelid = 'audit_events'::regclass ORDER BY 1
"""


class Replica(Cluster):
    """A hot standby of `primary`, copied with pg_basebackup -R into a folder of its own."""

    def __init__(self, primary: Cluster) -> None:
        self.bindir = primary.bindir
        self.user = primary.user
        self.root = Path(tempfile.mkdtemp(prefix="therapy-replica-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        if self.user is not None:
            self.root.chmod(0o755)
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self._run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(self.data), "-R", "-X", "stream", "-c", "fast", "--no-sync"),
            timeout=600,
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.port}\nunix_socket_directories = '{self.root}'\n")


@dataclass
class Phase:
    operation: str
    wrk: dict[str, Any] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    visible_ms: list[float] = field(default_factory=list)
    stale_first_reads: int = 0
    probe_errors: int = 0
    replica_reads_ms: dict[str, list[float]] = field(default_factory=dict)
    wal_bytes: int = 0
    wal_records: int = 0
    wal_full_pages: int = 0
    audit_before: dict[str, int] = field(default_factory=dict)
    audit_after: dict[str, int] = field(default_factory=dict)


def service_env(url: str, data_dir: Path) -> dict[str, str]:
    """Production's settings, as the benchmark serves it (bench/run.py service_env)."""
    return {
        **base_environment(),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "PHI_ENCRYPTION_KEYS": "replica1:" + base64.b64encode(os.urandom(32)).decode(),
        "ENVIRONMENT": "production",
        "DATABASE_URL": url,
        "DATA_DIR": str(data_dir),
        "API_RATE_LIMIT": "1000000000/minute",
        "LOG_LEVEL": "warning",
        "ALLOWED_HOSTS": '["127.0.0.1"]',
        "METRICS_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
    }


def run_wrk(base: str, operation: str, seconds: int, connections: int, env: dict[str, str]) -> Any:
    done = subprocess.run(  # noqa: S603
        [
            *("wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"),
            *("-s", str(ROOT / "bench" / "wrk.lua"), base, "--", operation),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line.removeprefix("BENCH_RESULT "))
    raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")


def _ms(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds() * 1000


async def sample_lag(primary: asyncpg.Connection, phase: Phase, stop: asyncio.Event) -> None:
    while not stop.is_set():
        row = await primary.fetchrow(LAG_QUERY)
        if row is not None:
            phase.samples.append(
                {
                    "write": _ms(row["write_lag"]),
                    "flush": _ms(row["flush_lag"]),
                    "replay": _ms(row["replay_lag"]),
                    "unsent": row["unsent"],
                    "unreplayed": row["unreplayed"],
                }
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_SECONDS)


async def probe_visibility(
    client: httpx.AsyncClient,
    replica: asyncpg.Connection,
    probes: list[str],
    phase: Phase,
    stop: asyncio.Event,
) -> None:
    """A wallet change through the API, then the replica read until it shows the new balance:
    what a read sent to the replica right after a write would have seen."""
    turn = 0
    while not stop.is_set():
        patient = probes[turn % len(probes)]
        turn += 1
        answer = await client.post(
            f"/api/patients/{patient}/update_wallet/", json={"amount": "1.00"}
        )
        if answer.status_code != 200:
            phase.probe_errors += 1
            continue
        expected = Decimal(answer.json()["wallet_balance"])
        answered = time.perf_counter()
        reads = 0
        while True:
            balance = await replica.fetchval(
                "SELECT wallet_balance FROM patients WHERE id = $1", patient
            )
            reads += 1
            if balance is not None and balance >= expected:
                break
            if time.perf_counter() - answered > 10:
                phase.probe_errors += 1
                break
        phase.visible_ms.append((time.perf_counter() - answered) * 1000)
        if reads > 1:
            phase.stale_first_reads += 1
        await asyncio.sleep(0.1)


async def read_lists(replica: Database, phase: Phase, stop: asyncio.Event) -> None:
    """The patient list's page, read from the replica through the service's own repository."""
    repository = PatientRepository(replica)
    queries = {"unfiltered": PatientListQuery(), "?name=ann": PatientListQuery(name="ann")}
    while not stop.is_set():
        for label, query in queries.items():
            started = time.perf_counter()
            await repository.list(query, offset=0, limit=21)
            phase.replica_reads_ms.setdefault(label, []).append(
                (time.perf_counter() - started) * 1000
            )
        await asyncio.sleep(0.05)


async def audit_sizes(connection: asyncpg.Connection) -> dict[str, int]:
    row = await connection.fetchrow(AUDIT_SIZES)
    assert row is not None
    return {"events": row["events"], "heap": row["heap"], "indexes": row["indexes"]}


async def run_phase(
    operation: str,
    *,
    base: str,
    token: str,
    urls: tuple[str, str],
    settings: Settings,
    probes: list[str],
    wrk_env: dict[str, str],
    options: argparse.Namespace,
) -> Phase:
    phase = Phase(operation)
    primary = await asyncpg.connect(urls[0])
    replica = await asyncpg.connect(urls[1])
    replica_pool = await Database.open(settings, urls[1])
    headers = {"Authorization": f"Bearer {token}"}
    try:
        await primary.execute("CHECKPOINT")
        phase.audit_before = await audit_sizes(primary)
        start_lsn = await primary.fetchval("SELECT pg_current_wal_lsn()")
        wal_before = await primary.fetchrow(WAL_STATS)
        stop = asyncio.Event()
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
            tasks = [
                asyncio.create_task(sample_lag(primary, phase, stop)),
                asyncio.create_task(probe_visibility(client, replica, probes, phase, stop)),
                asyncio.create_task(read_lists(replica_pool, phase, stop)),
            ]
            phase.wrk = await asyncio.to_thread(
                run_wrk, base, operation, options.seconds, options.connections, wrk_env
            )
            stop.set()
            await asyncio.gather(*tasks)
        phase.wal_bytes = int(
            await primary.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)", start_lsn)
        )
        wal_after = await primary.fetchrow(WAL_STATS)
        assert wal_before is not None
        assert wal_after is not None
        phase.wal_records = wal_after["wal_records"] - wal_before["wal_records"]
        phase.wal_full_pages = wal_after["wal_fpi"] - wal_before["wal_fpi"]
        phase.audit_after = await audit_sizes(primary)
    finally:
        await replica_pool.close()
        await replica.close()
        await primary.close()
    return phase


async def read_only_refusal(url: str) -> str:
    """What an audited read (its event is an INSERT) meets on the replica."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "INSERT INTO audit_events (actor, actor_kind, action, outcome, status_code) "
            "VALUES ('staff:1', 'staff', 'list_patients', 'success', 200)"
        )
    except asyncpg.PostgresError as error:
        return f"{type(error).__name__} (SQLSTATE {error.sqlstate}): {error}"
    finally:
        await connection.close()
    return "accepted (not a standby?)"


def _stats(values: list[float]) -> str:
    if not values:
        return "n/a | n/a | n/a"
    ordered = sorted(values)
    return f"{percentile(ordered, 0.5):.2f} | {percentile(ordered, 0.95):.2f} | {ordered[-1]:.2f}"


def _lag_line(label: str, values: list[float | None], unit: str) -> str:
    present = [value for value in values if value is not None]
    note = f" ({len(values) - len(present)} NULL)" if len(present) < len(values) else ""
    return f"| {label} ({unit}){note} | {len(present)} | {_stats(present)} |"


def report(phases: list[Phase], index_sizes: list[tuple[str, int]], refusal: str, meta: str) -> str:
    lines = [meta, ""]
    for phase in phases:
        wrk = phase.wrk
        seconds = wrk["duration_us"] / 1e6
        requests = wrk["requests"]
        lines += [
            f"### `{phase.operation}`: {requests:,} requests in {seconds:.1f} s "
            f"({requests / seconds:,.0f} req/s, p50 {wrk['p50_us'] / 1000:.1f} ms, "
            f"p99 {wrk['p99_us'] / 1000:.1f} ms, non-2xx {wrk['non2xx']})",
            "",
            "| replication (primary's pg_stat_replication, every 0.25 s) | samples | p50 | p95 "
            "| max |",
            "|---|---|---|---|---|",
            _lag_line("write_lag", [s["write"] for s in phase.samples], "ms"),
            _lag_line("flush_lag", [s["flush"] for s in phase.samples], "ms"),
            _lag_line("replay_lag", [s["replay"] for s in phase.samples], "ms"),
            _lag_line("WAL not yet sent", [s["unsent"] / 1024 for s in phase.samples], "KiB"),
            _lag_line(
                "WAL not yet replayed", [s["unreplayed"] / 1024 for s in phase.samples], "KiB"
            ),
            "",
            "| on the replica | count | p50 ms | p95 ms | max ms |",
            "|---|---|---|---|---|",
            f"| a wallet change visible after the API's 200 | {len(phase.visible_ms)} "
            f"| {_stats(phase.visible_ms)} |",
        ]
        for label, values in phase.replica_reads_ms.items():
            lines.append(f"| patient list page, {label} | {len(values)} | {_stats(values)} |")
        events = phase.audit_after["events"] - phase.audit_before["events"]
        heap = phase.audit_after["heap"] - phase.audit_before["heap"]
        indexes = phase.audit_after["indexes"] - phase.audit_before["indexes"]
        all_requests = requests + len(phase.visible_ms) + phase.probe_errors
        lines += [
            "",
            f"- read after write: {phase.stale_first_reads} of {len(phase.visible_ms)} first "
            f"reads on the replica were stale (probe errors: {phase.probe_errors})",
            f"- WAL: {phase.wal_bytes / 2**20:,.1f} MiB, {phase.wal_bytes / all_requests:,.0f} "
            f"bytes per request ({phase.wal_bytes / seconds / 2**20:,.2f} MiB/s); "
            f"{phase.wal_records / all_requests:.1f} records and "
            f"{phase.wal_full_pages / all_requests:.2f} full-page images per request "
            "(the run starts with a CHECKPOINT: every page's first change after it is logged "
            "whole)",
            f"- audit events: {events:,} for {all_requests:,} requests "
            f"({events / all_requests:.3f} per request); heap +{heap / 2**20:,.2f} MiB "
            f"({heap / max(events, 1):,.0f} B/event), indexes +{indexes / 2**20:,.2f} MiB "
            f"({indexes / max(events, 1):,.0f} B/event)",
            "",
        ]
    lines += ["| audit index (all partitions, at the end) | size |", "|---|---|"]
    lines += [f"| `{name}` | {size / 2**20:,.2f} MiB |" for name, size in index_sizes]
    lines += ["", f"An audited read's event written on the replica: {refusal}"]
    return "\n".join(lines)


async def measure(
    options: argparse.Namespace, base: str, urls: tuple[str, str], env: dict[str, str]
) -> str:
    settings = Settings(
        database_url=urls[1],
        secret_key=env["SECRET_KEY"],
        phi_encryption_keys=env["PHI_ENCRYPTION_KEYS"],
        db_pool_size=2,
        db_max_overflow=0,
    )
    use_keyring(Keyring.parse(env["PHI_ENCRYPTION_KEYS"]))
    primary = await asyncpg.connect(urls[0])
    try:
        ids = [row["id"] for row in await primary.fetch("SELECT id FROM patients ORDER BY id")]
    finally:
        await primary.close()
    probes, loaded = ids[:PROBES], ids[PROBES:]
    ids_file = Path(options.workdir) / "ids.txt"
    ids_file.write_text("\n".join(loaded) + "\n")
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        answer = await client.post(
            "/api/auth/token/", data={"username": ADMIN[0], "password": ADMIN[1]}
        )
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
    wrk_env = {
        **os.environ,
        "BENCH_TOKEN": token,
        "BENCH_IDS": str(ids_file),
        "BENCH_BODY": '{"amount": "1.00"}',
    }
    phases = []
    for operation in options.ops:
        print(f"replica-lag: {operation} for {options.seconds} s …", file=sys.stderr)
        phases.append(
            await run_phase(
                operation,
                base=base,
                token=token,
                urls=urls,
                settings=settings,
                probes=probes,
                wrk_env=wrk_env,
                options=options,
            )
        )
    connection = await asyncpg.connect(urls[0])
    try:
        index_sizes = [(row["name"], row["bytes"]) for row in await connection.fetch(INDEX_SIZES)]
        version = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    refusal = await read_only_refusal(urls[1])
    load = os.getloadavg()
    meta = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
        f"at the end), PostgreSQL {version}, primary and replica on the same machine; "
        f"{len(ids):,} seeded patients; wrk -t2 -c{options.connections} -d{options.seconds}s; "
        f"uvicorn --workers {options.workers}."
    )
    return report(phases, index_sizes, refusal, meta)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A streaming replica's lag under write load.")
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=30, help="Each operation's wrk run.")
    parser.add_argument("--connections", type=int, default=16, help="wrk's connections.")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn's workers.")
    parser.add_argument("--ops", nargs="+", default=["update_wallet", "get"])
    options = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        options.workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="replica-lag-"))
        primary = stack.enter_context(Cluster("therapy-primary-"))
        primary.start()
        primary.create_database(DATABASE)
        url = primary.url(DATABASE)
        env = service_env(url, Path(options.workdir) / "data")
        print(f"replica-lag: primary on :{primary.port}, migrating and seeding …", file=sys.stderr)
        run_command(["migrate"], env, ROOT)
        run_command(["seed", "--count", str(options.patients)], env, ROOT)
        run_command(["createsuperuser", "--username", ADMIN[0], "--password", ADMIN[1]], env, ROOT)
        replica = stack.enter_context(Replica(primary))
        replica.start()
        print(f"replica-lag: replica on :{replica.port}", file=sys.stderr)
        log = Path(options.workdir) / "service.log"
        base = stack.enter_context(served(env, ROOT, free_port(), log, workers=options.workers))
        output = asyncio.run(measure(options, base, (url, replica.url(DATABASE)), env))
    print(output)


if __name__ == "__main__":
    main()

"""The floor: the service's own SQL (bench/capture.py) through bare asyncpg, no web framework.

`connections` clients (one connection each, as the service's pool gives each request one) are
split over `processes` processes, each on uvloop, as the service's workers are. A client loops:
take the captured round trips of one request, fill in the per-request values, send them; the
latency of each whole request that completes after the warm-up and before the end is recorded.
"""

import asyncio
import multiprocessing
import os
import random
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import uvloop

from bench.common import BALANCE, NEW_ID, PATIENT, PHONE, Result, decode_argument, percentile

ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class Job:
    dsn: str
    steps: list[list[Any]]
    ids: list[str]
    phone_prefix: str  # e.g. +8 and a 4-digit salt: 9 more digits are added
    connections: int
    warmup: float
    duration: float
    server_settings: dict[str, str] = field(default_factory=dict)  # the service's (app.db)


class Replayer:
    """One client: the request's round trips with this request's values."""

    def __init__(self, job: Job, client: int) -> None:
        self.steps = [
            (step[0], step[1], [decode_argument(a) for a in step[2]])
            if step[0] == "sql"
            else (step[0], "", [])
            for step in job.steps
        ]
        self.ids = job.ids
        self.phone_prefix = f"{job.phone_prefix}{client:03d}"
        self.counter = 0
        self.rng = random.Random(client)  # noqa: S311 - load generation

    def values(self) -> dict[str, Any]:
        self.counter += 1
        new_id = "p_" + "".join(self.rng.choice(ID_ALPHABET) for _ in range(6))
        return {
            PATIENT: self.rng.choice(self.ids) if self.ids else None,
            NEW_ID: new_id,
            PHONE: f"{self.phone_prefix}{self.counter:06d}",
        }

    async def request(self, connection: Any, patient_id: str | None = None) -> list[Any]:
        """One request's round trips; the rows of its last statement that read a patient."""
        values = self.values()
        if patient_id is not None:
            values[PATIENT] = patient_id
        transaction = None
        patient: list[Any] = []
        try:
            for kind, statement, arguments in self.steps:
                if kind == "ping":  # as SQLAlchemy's asyncpg dialect pings a pooled connection
                    ping = connection.transaction()
                    await ping.start()
                    try:
                        await connection.fetchrow(";")
                    finally:
                        await ping.rollback()
                elif kind == "begin":
                    transaction = connection.transaction()
                    await transaction.start()
                elif kind in ("commit", "rollback"):
                    assert transaction is not None
                    await (transaction.commit() if kind == "commit" else transaction.rollback())
                    transaction = None
                else:
                    filled = [
                        values[a["$"]] if isinstance(a, dict) and "$" in a else a for a in arguments
                    ]
                    rows = await connection.fetch(statement, *filled)
                    if rows and "wallet_balance" in rows[0]:
                        values[BALANCE] = rows[0]["wallet_balance"]
                        patient = rows
        except BaseException:
            if transaction is not None and not connection.is_closed():
                await transaction.rollback()
            raise
        return patient


async def _load(job: Job, first_client: int) -> tuple[list[float], int]:
    connections = [
        await asyncpg.connect(job.dsn, server_settings=job.server_settings)
        for _ in range(job.connections)
    ]
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from = start + job.warmup
    stop = measure_from + job.duration

    async def client(connection: Any, number: int) -> None:
        # As wrk and pgbench count: the requests that complete inside the measured window.
        nonlocal errors
        replayer = Replayer(job, first_client + number)
        while (began := time.perf_counter()) < stop:
            try:
                await replayer.request(connection)
            except (TimeoutError, asyncpg.PostgresError, OSError):
                if measure_from <= time.perf_counter() <= stop:
                    errors += 1
                continue
            if measure_from <= (ended := time.perf_counter()) <= stop:
                latencies.append(ended - began)

    try:
        await asyncio.gather(*(client(c, n) for n, c in enumerate(connections)))
    finally:
        await asyncio.gather(*(c.close() for c in connections))
    return latencies, errors


def _process(job: Job, first_client: int) -> tuple[list[float], int]:
    return uvloop.run(_load(job, first_client))


def _pin(cpus: frozenset[int] | None) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)


def run(job: Job, processes: int, cpus: frozenset[int] | None = None) -> Result:
    """Run the job's connections split over `processes` processes (on `cpus`, when given); the
    merged figures."""
    processes = max(1, min(processes, job.connections))
    shares = [
        job.connections // processes + (i < job.connections % processes) for i in range(processes)
    ]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, context, _pin, (cpus,)) as pool:
        futures = []
        first = 0
        for share in shares:
            part = Job(**{**job.__dict__, "connections": share})
            futures.append(pool.submit(_process, part, first))
            first += share
        parts = [future.result() for future in futures]
    latencies = sorted(latency for part, _ in parts for latency in part)
    return Result(
        requests=len(latencies),
        seconds=job.duration,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        errors=sum(errors for _, errors in parts),
    )


async def _statement_times(
    dsn: str, steps: list[list[Any]], session: dict[str, str], repeat: int
) -> list[tuple[str, float]]:
    connection = await asyncpg.connect(dsn, server_settings=session)
    try:
        times = []
        for step in steps:
            statement = step[1] if step[0] == "sql" else ""
            if not statement.lstrip().upper().startswith(("SELECT", "EXPLAIN", "WITH")):
                continue  # reads only: the audit INSERT is timed by the load runs
            arguments = [decode_argument(a) for a in step[2]]
            taken = []
            for _ in range(repeat + 2):
                began = time.perf_counter()
                await connection.fetch(statement, *arguments)
                taken.append(time.perf_counter() - began)
            times.append((statement, 1000 * statistics.median(taken[2:])))
        return times
    finally:
        await connection.close()


def statement_times(
    dsn: str, steps: list[list[Any]], session: dict[str, str], repeat: int = 20
) -> list[tuple[str, float]]:
    """Each read of one request, alone on one connection: the median of `repeat` runs, in ms."""
    return uvloop.run(_statement_times(dsn, steps, session, repeat))

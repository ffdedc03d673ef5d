"""`python -m app seed --count N --audit-rows M`: M made-up audit events, for measuring the audit
trail at scale.

The events are spread evenly over the last `months` months (about 30.4 days each) up to now and
name the patients in the table: staff reading and changing records (mostly `get_patient`), the
patients themselves, and failed logins. Some patients are far busier than others (the i-th of a
shuffled list is picked with a density falling as 1/sqrt(i)), and so are some staff. The
partitions of those months are made first, so every event lands in its month's partition.

Batches go in with COPY through audit_events (PostgreSQL routes each row to its partition), each
in its own transaction, built and copied by one process per core. Batch i holds the i-th slice of
the time range, its events in time order, so ids grow with time as the service's would.
"""

import asyncio
import multiprocessing
import os
import random
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from app.audit.actions import Action
from app.audit.partition_repository import PartitionRepository
from app.audit.partitions import Month, ensure_partitions, months_from
from app.core.errors import CommandError
from app.seed.patients import Dice, Progress, asyncpg_dsn

AUDIT_COLUMNS = (
    "at",
    "actor",
    "actor_kind",
    "action",
    "patient_id",
    "client_address",
    "outcome",
    "status_code",
)  # `id` is the identity's
MONTH = timedelta(days=365.25 / 12)
POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
SEED_APPLICATION = "therapyconnect-seed"

STAFF = {
    "admin": 4,
    "reception": 22,
    "billing": 6,
    "dr-rivera": 14,
    "dr-chen": 11,
    "dr-okafor": 9,
    "dr-novak": 8,
    "dr-haddad": 7,
    "dr-silva": 6,
    "dr-kim": 5,
    "dr-petrov": 4,
    "dr-moreau": 4,
}
# (action, status of a success, names a patient); weights per thousand of a kind's events.
STAFF_ACTIONS = {
    (Action.GET_PATIENT, 200, True): 600,
    (Action.LIST_PATIENTS, 200, False): 140,
    (Action.ADD_SESSION, 200, True): 60,
    (Action.UPDATE_PATIENT, 200, True): 40,
    (Action.UPDATE_WALLET, 200, True): 30,
    (Action.LIST_WALLET_TRANSACTIONS, 200, True): 30,
    (Action.LOGIN, 200, False): 30,
    (Action.ADD_TAG, 200, True): 20,
    (Action.GET_PROFILE_PICTURE, 200, True): 20,
    (Action.REMOVE_TAG, 200, True): 10,
    (Action.CREATE_PATIENT, 201, True): 10,
    (Action.REPLACE_PATIENT, 200, True): 5,
    (Action.UPLOAD_PROFILE_PICTURE, 200, True): 4,
    (Action.DELETE_PATIENT, 204, True): 1,
}
PATIENT_ACTIONS = {
    (Action.GET_PATIENT, 200, True): 550,
    (Action.LOGIN, 200, True): 250,
    (Action.LIST_WALLET_TRANSACTIONS, 200, True): 100,
    (Action.UPDATE_PATIENT, 200, True): 80,
    (Action.GET_PROFILE_PICTURE, 200, True): 20,
}
KINDS = {"staff": 85, "patient": 13, "anonymous": 2}
# (outcome, status instead of the success's): per thousand of staff and patient events.
FAILURES = {("not_found", 404): 15, ("invalid", 400): 10, ("denied", 403): 5}
ADDRESSES = tuple(
    [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(40)]
    + [f"203.0.113.{i}" for i in range(1, 120)]
    + [f"198.51.100.{i}" for i in range(1, 60)]
)


@dataclass(frozen=True)
class Shape:
    """What an event does, apart from its patient, address and time. `actor` None: the
    patient acts on their own record."""

    actor: str | None
    actor_kind: str
    action: Action
    names_patient: bool
    outcome: str
    status_code: int


def _shapes(seed: int, size: int = 8192) -> tuple[Shape, ...]:
    """`size` shapes drawn from the weights above: a row then costs one draw for its shape."""
    rng = random.Random(seed)  # noqa: S311 - made-up data, not secrets

    def draw(weights: dict[Any, int]) -> Any:
        return rng.choices(list(weights), weights=list(weights.values()))[0]

    shapes = []
    for _ in range(size):
        kind = draw(KINDS)
        if kind == "anonymous":
            shapes.append(Shape("unknown", kind, Action.LOGIN, False, "denied", 401))
            continue
        actor = draw(STAFF) if kind == "staff" else None
        action, status, names_patient = draw(STAFF_ACTIONS if kind == "staff" else PATIENT_ACTIONS)
        outcome = "success"
        if rng.random() * 1000 < sum(FAILURES.values()):
            outcome, status = draw(FAILURES)
        if action == Action.LOGIN and outcome != "success":
            outcome, status = "denied", 401
        shapes.append(Shape(actor, kind, action, names_patient, outcome, status))
    return tuple(shapes)


@dataclass(frozen=True)
class AuditPlan:
    dsn: str
    patient_ids: tuple[str, ...]  # shuffled: the first are the busiest
    content_seed: int
    start: float  # epoch seconds
    end: float
    count: int
    batch_size: int

    @property
    def batches(self) -> int:
        return -(-self.count // self.batch_size)

    def batch_count(self, index: int) -> int:
        return min(self.batch_size, self.count - index * self.batch_size)


def build_events(plan: AuditPlan, shapes: Sequence[Shape], index: int) -> list[tuple[Any, ...]]:
    """The rows (AUDIT_COLUMNS) of batch `index`, oldest first. `at` is in the binary codec's
    tuple form (`_copying`): making a datetime cost more than the rest of a row."""
    random_ = Dice(plan.content_seed ^ index * 0x9E3779B97F4A7C15).random
    count = plan.batch_count(index)
    step = (plan.end - plan.start) * 1_000_000 / plan.count  # an event in each, at random in it
    first = (plan.start - POSTGRES_EPOCH) * 1_000_000 + index * plan.batch_size * step
    patients, patient_count = plan.patient_ids, len(plan.patient_ids)
    kinds = [
        (
            shape.actor,
            shape.actor_kind,
            shape.action,
            shape.names_patient,
            shape.outcome,
            shape.status_code,
        )
        for shape in shapes
    ]
    kind_count, address_count = len(kinds), len(ADDRESSES)
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    for position in range(count):
        actor, actor_kind, action, names_patient, outcome, status = kinds[
            int(random_() * kind_count)
        ]
        share = random_()
        patient = patients[int(patient_count * share * share)]
        append(
            (
                (int(first + (position + random_()) * step),),
                actor or patient,
                actor_kind,
                action,
                patient if names_patient else None,
                ADDRESSES[int(random_() * address_count)],
                outcome,
                status,
            )
        )
    return rows


async def copy_events(
    connection: asyncpg.Connection, plan: AuditPlan, shapes: Sequence[Shape], index: int
) -> int:
    rows = build_events(plan, shapes, index)
    await connection.copy_records_to_table("audit_events", records=rows, columns=AUDIT_COLUMNS)
    return len(rows)


@dataclass
class _Worker:
    plan: AuditPlan
    shapes: tuple[Shape, ...]
    loop: asyncio.AbstractEventLoop
    connection: asyncpg.Connection


_worker: _Worker | None = None


async def _connect(dsn: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn, server_settings={"application_name": SEED_APPLICATION})


async def _copying(dsn: str) -> asyncpg.Connection:
    """A connection that takes timestamptz in asyncpg's binary tuple form: (microseconds since
    2000-01-01 UTC,)."""
    connection = await _connect(dsn)
    await connection.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=_identity,
        decoder=_identity,
        format="tuple",
    )
    return connection


def _identity(value: Any) -> Any:
    return value


def _start_worker(plan: AuditPlan) -> None:
    global _worker
    loop = asyncio.new_event_loop()
    connection = loop.run_until_complete(_copying(plan.dsn))
    _worker = _Worker(plan, _shapes(plan.content_seed), loop, connection)


def _run_batch(index: int) -> int:
    assert _worker is not None
    worker = _worker
    return worker.loop.run_until_complete(
        copy_events(worker.connection, worker.plan, worker.shapes, index)
    )


@dataclass(frozen=True)
class AuditSeedReport:
    events: int
    months: list[Month]
    seconds: float
    workers: int


async def _plan(
    database_url: str, count: int, *, months: int, batch_size: int, seed: int | None
) -> tuple[AuditPlan, list[Month]]:
    """The plan, once the partitions of its months exist."""
    rng = random.Random(seed)  # noqa: S311 - made-up data, not secrets
    dsn = asyncpg_dsn(database_url)
    connection = await _connect(dsn)
    try:
        patient_ids = [row[0] for row in await connection.fetch("SELECT id FROM patients")]
        if not patient_ids:
            raise CommandError("Audit events name patients: there are none to name.")
        rng.shuffle(patient_ids)
        now: datetime = await connection.fetchval("SELECT now()")
        start = now - months * MONTH
        covered = months_from(Month.of(start), Month.of(now))
        async with connection.transaction():
            await ensure_partitions(PartitionRepository(connection), covered)
    finally:
        await connection.close()
    plan = AuditPlan(
        dsn=dsn,
        patient_ids=tuple(patient_ids),
        content_seed=rng.getrandbits(64),
        start=start.timestamp(),
        end=now.timestamp() - 1,
        count=count,
        batch_size=batch_size,
    )
    return plan, covered


async def seed_audit(
    database_url: str,
    count: int,
    *,
    months: int = 6,
    batch_size: int = 50_000,
    workers: int | None = None,
    progress: Progress | None = None,
    seed: int | None = None,
) -> AuditSeedReport:
    """Insert `count` made-up audit events over the last `months` months; `workers` processes
    (default: one per core) build and copy batches in parallel, or this process alone when
    `workers` is 1."""
    started = time.perf_counter()
    plan, covered = await _plan(
        database_url, count, months=months, batch_size=batch_size, seed=seed
    )
    workers = max(1, min(workers or os.cpu_count() or 1, plan.batches))
    done = 0

    def advance(events: int) -> None:
        nonlocal done
        done += events
        if progress is not None:
            progress(done, count)

    if workers == 1:
        shapes = _shapes(plan.content_seed)
        connection = await _copying(plan.dsn)
        try:
            for index in range(plan.batches):
                advance(await copy_events(connection, plan, shapes, index))
        finally:
            await connection.close()
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            workers, context, initializer=_start_worker, initargs=(plan,)
        ) as pool:
            loop = asyncio.get_running_loop()
            futures = [loop.run_in_executor(pool, _run_batch, i) for i in range(plan.batches)]
            try:
                for future in asyncio.as_completed(futures):
                    advance(await future)
            except BaseException:
                for pending in futures:
                    pending.cancel()
                raise
    connection = await _connect(plan.dsn)
    try:
        await connection.execute("ANALYZE audit_events")  # the parent and every partition
    finally:
        await connection.close()
    return AuditSeedReport(count, covered, time.perf_counter() - started, workers)

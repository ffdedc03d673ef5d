"""`python -m app seed --count N`: load N made-up patients quickly, for load tests and demos.

Rows go in with COPY (asyncpg's `copy_records_to_table`), in batches of one transaction each
(the batch's patients and their wallet ledger together, so every committed ledger sums to its
balance). Building a row costs about 50 microseconds of Python, half of it the AES-GCM
encryption of the two PHI fields, so batches are built and copied by one process per core.

- Ids and phone numbers come from a counter through a bijective scramble (an affine map with a
  random multiplier and offset per run, over the 36**6 ids and over the 6.4e9 North American
  numbers `+1 [2-9]XX [2-9]XX XXXX`): unique within a run by construction. Each batch draws a few
  spare counter values and drops any id or phone number already in the table, so a run never
  clashes with earlier runs or with patients made through the API.
- Every seeded patient has the password SEED_PASSWORD, hashed once with the service's own
  Argon2id parameters: hashing a million passwords would take some 65 hours of CPU.
- PHI is encrypted by the configured Keyring exactly as the service writes it.
"""

import asyncio
import json
import math
import multiprocessing
import os
import random
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.crypto import Keyring
from app.core.security import hash_password
from app.db.types import seal_sessions
from app.models.patient import SESSION_NOTES_CONTEXT
from app.patients.repository import CREATED
from app.patients.schemas import SessionCreate, session_document
from app.seed import words

T = TypeVar("T")

SEED_PASSWORD = "seed-password"  # noqa: S105 - documented: every seeded patient's password
SEED_ACTOR = "seed"

ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
ID_SPACE = 36**6
# +1, an area code and an exchange that do not start with 0 or 1, then four digits.
PHONE_SPACE = 8 * 100 * 8 * 100 * 10_000

# What the service writes when it creates a patient (the API's insert), and what a seeded
# patient has already been through. `version` and `profile_picture` are left to their defaults.
PATIENT_COLUMNS = (
    *CREATED,
    "wallet_balance",
    "sessions",
    "created_at",
    "updated_at",
)
LEDGER_COLUMNS = (
    "patient_id",
    "amount",
    "balance_after",
    "reason",
    "actor",
    "actor_kind",
    "created_at",
)
BATCH_ATTEMPTS = 3
HISTORY = timedelta(days=3 * 365)  # patients were created over the last three years


@dataclass(frozen=True)
class Scramble:
    """x -> (a*x + b) mod m, a bijection of [0, m) when a and m are coprime."""

    a: int
    b: int
    m: int

    @classmethod
    def random(cls, m: int, rng: random.Random) -> "Scramble":
        while True:
            a = rng.randrange(m // 3, m)
            if math.gcd(a, m) == 1:
                return cls(a, rng.randrange(m), m)

    def __call__(self, x: int) -> int:
        return (self.a * x + self.b) % self.m


def patient_id_for(number: int) -> str:
    digits = []
    for _ in range(6):
        number, digit = divmod(number, 36)
        digits.append(ID_ALPHABET[digit])
    return "p_" + "".join(digits)


def phone_for(number: int) -> str:
    number, line = divmod(number, 10_000)
    number, exchange = divmod(number, 800)
    area = number
    return f"+1{area + 200:03d}{exchange + 200:03d}{line:04d}"


@dataclass(frozen=True)
class Plan:
    """Everything a worker process needs to build and copy any batch of this run."""

    dsn: str
    keyring_spec: str
    password_hash: str
    ids: Scramble
    phones: Scramble
    content_seed: int
    now: datetime
    count: int
    batch_size: int

    @property
    def batches(self) -> int:
        return math.ceil(self.count / self.batch_size)

    @property
    def stride(self) -> int:
        """Counter values reserved per batch: its rows plus spares for clashes with old rows."""
        return self.batch_size + max(64, self.batch_size // 10)

    def batch_count(self, index: int) -> int:
        return min(self.batch_size, self.count - index * self.batch_size)


@dataclass(frozen=True)
class SeedReport:
    patients: int
    ledger_rows: int
    seconds: float
    workers: int


def asyncpg_dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def plan_for(
    settings: Settings, database_url: str, count: int, *, batch_size: int, seed: int | None = None
) -> Plan:
    assert settings.phi_encryption_keys is not None, "settings fill in a development key"
    rng = random.Random(seed)  # noqa: S311 - made-up data, not secrets
    ids, phones = Scramble.random(ID_SPACE, rng), Scramble.random(PHONE_SPACE, rng)
    if (batch_size + max(64, batch_size // 10)) * math.ceil(count / batch_size) > ID_SPACE // 2:
        raise ValueError("count is too large for the 36**6 patient ids")
    return Plan(
        dsn=asyncpg_dsn(database_url),
        keyring_spec=settings.phi_encryption_keys.get_secret_value(),
        password_hash=await hash_password(SEED_PASSWORD),
        ids=ids,
        phones=phones,
        content_seed=rng.getrandbits(64),
        now=datetime.now(UTC),
        count=count,
        batch_size=batch_size,
    )


# -- building rows -----------------------------------------------------------------------------


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _weighted(weights: dict[Any, int]) -> tuple[Any, ...]:
    """A tuple to pick from uniformly that holds each value as often as its weight."""
    return tuple(value for value, weight in weights.items() for _ in range(weight))


SEXES = _weighted({"F": 50, "M": 44, "O": 3, "P": 3})
TAG_COUNTS = _weighted({0: 30, 1: 35, 2: 25, 3: 10})
SESSION_COUNTS = _weighted({0: 25, 1: 30, 2: 25, 3: 20})
LEDGER_SIZES = (1, 1, 2, 2, 3)
TOP_UPS = (2_000, 2_500, 5_000, 7_550, 10_000, 15_000, 25_000, 50_000)
CHARGES = (2_500, 5_000, 7_500, 12_000)
BIRTH_DATES = (date(1935, 1, 1).toordinal(), date(2012, 12, 31).toordinal())


class Dice:
    """random.Random's uniform draws, without its slower generic helpers (choice, randrange):
    building rows is what the seed spends its Python time on."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - made-up data, not secrets
        self.random, self.bits = rng.random, rng.getrandbits

    def below(self, n: int) -> int:
        return int(self.random() * n)

    def pick(self, values: Sequence[T]) -> T:
        return values[int(self.random() * len(values))]

    def chance(self, probability: float) -> bool:
        return self.random() < probability

    def sample(self, values: Sequence[T], count: int) -> list[T]:
        """`count` different values (count is small next to len(values))."""
        chosen: list[T] = []
        while len(chosen) < count:
            if (value := self.pick(values)) not in chosen:
                chosen.append(value)
        return chosen


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def session_documents(dice: Dice, since: float, now: float, count: int) -> list[dict[str, Any]]:
    """`count` sessions, oldest first, each stored as the API stores one (session_document)."""
    documents = []
    for offset in sorted(dice.random() for _ in range(count)):
        start = since + offset * max(0.0, now - since - 7200)
        start -= start % 3600  # on the hour
        minutes = dice.pick(words.SESSION_MINUTES)
        recorded = start + 60 * ((minutes or 50) + 1 + dice.below(59)) + dice.random()
        session = SessionCreate(
            date=_utc(start),
            duration_minutes=minutes,
            therapist=dice.pick(words.THERAPISTS),
            notes=dice.pick(words.SESSION_NOTES),
        )
        documents.append(
            session_document(
                session,
                session_id=str(uuid.UUID(int=dice.bits(128), version=4)),
                created_at=_utc(recorded),
            )
        )
    return documents


def ledger_entries(dice: Dice, since: float, now: float) -> list[tuple[int, int, str, float]]:
    """(amount, balance after, reason, when) in cents, oldest first; a charge never overdraws."""
    moments = sorted(since + dice.random() * (now - since) for _ in range(dice.pick(LEDGER_SIZES)))
    balance, entries = 0, []
    for moment in moments:
        if balance >= 5_000 and dice.chance(0.35):
            amount = -min(balance, dice.pick(CHARGES))
            reason = dice.pick(words.CHARGE_REASONS)
        else:
            amount = dice.pick(TOP_UPS)
            reason = dice.pick(words.LEDGER_REASONS)
        balance += amount
        entries.append((amount, balance, reason, moment))
    if balance == 0:  # the charges used the balance up: top it up again, so it is not 0
        entries.append((2_500, 2_500, "Top-up", max(moments[-1], now - 60)))
    return entries


def build_rows(
    plan: Plan, keyring: Keyring, numbers: list[int], batch_index: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The patient rows (PATIENT_COLUMNS) and wallet ledger rows (LEDGER_COLUMNS) of a batch."""
    dice = Dice(plan.content_seed ^ batch_index * 0x9E3779B97F4A7C15)
    now, history = plan.now.timestamp(), HISTORY.total_seconds()
    patients: list[tuple[Any, ...]] = []
    ledger: list[tuple[Any, ...]] = []
    for number in numbers:
        patient_id = patient_id_for(plan.ids(number))
        sex = dice.pick(SEXES)
        female = sex == "F" or (sex in "OP" and dice.chance(0.5))
        first = dice.pick(words.FEMALE_FIRST_NAMES if female else words.MALE_FIRST_NAMES)
        last = dice.pick(words.LAST_NAMES)
        created = now - 60 - dice.random() * history
        updated = created
        email = None
        if dice.chance(0.85):
            local = f"{first}.{last}".lower().replace("'", "")
            suffix = dice.below(100) if dice.chance(0.6) else ""
            # The id's letters make it one patient's (an address names one account).
            email = f"{local}{suffix}.{patient_id[2:]}@{dice.pick(words.EMAIL_DOMAINS)}"
        ssn = None
        if dice.chance(0.7):
            ssn = f"{100 + dice.below(800)}-{1 + dice.below(99):02d}-{1 + dice.below(9999):04d}"
        address = None
        if dice.chance(0.7):
            city, state = dice.pick(words.CITIES)
            address = (
                f"{1 + dice.below(9999)} {dice.pick(words.STREETS)} "
                f"{dice.pick(words.STREET_KINDS)}, {city}, {state} {10000 + dice.below(90000)}"
            )
        tags = dice.sample(words.TAGS, dice.pick(TAG_COUNTS))
        sessions = session_documents(dice, created, now, dice.pick(SESSION_COUNTS))
        if sessions:
            updated = datetime.fromisoformat(sessions[-1]["created_at"]).timestamp()
        balance = 0
        if dice.chance(0.4):
            for amount, balance, reason, moment in ledger_entries(dice, created, now):
                when = datetime.fromtimestamp(moment, UTC)
                ledger.append(
                    (
                        patient_id,
                        _money(amount),
                        _money(balance),
                        reason,
                        SEED_ACTOR,
                        "system",
                        when,
                    )
                )
                updated = max(updated, moment)
        patients.append(
            (
                patient_id,
                plan.password_hash,
                first,
                last,
                phone_for(plan.phones(number)),
                keyring.encrypt(
                    dice.pick(words.ALLERGIES_AND_MEDICATION),
                    context="patients.allergies_and_medication",
                ),
                date.fromordinal(BIRTH_DATES[0] + dice.below(BIRTH_DATES[1] - BIRTH_DATES[0])),
                sex,
                None if ssn is None else keyring.encrypt(ssn, context="patients.ssn"),
                email,
                address,
                dice.pick(words.ADDED_NOTES) if dice.chance(0.2) else None,
                dice.pick(words.ABOUT_NOTES) if dice.chance(0.3) else None,
                json.dumps(tags),
                _money(balance),
                json.dumps(seal_sessions(keyring, sessions, context=SESSION_NOTES_CONTEXT)),
                datetime.fromtimestamp(created, UTC),
                datetime.fromtimestamp(updated, UTC),
            )
        )
    return patients, ledger


# -- copying batches ---------------------------------------------------------------------------


async def _free_numbers(connection: Any, plan: Plan, batch_index: int) -> list[int]:
    """The batch's counter values whose id and phone number nobody has yet."""
    count = plan.batch_count(batch_index)
    candidates = range(batch_index * plan.stride, (batch_index + 1) * plan.stride)
    ids = {patient_id_for(plan.ids(n)): n for n in candidates}
    phones = {phone_for(plan.phones(n)): n for n in candidates}
    taken = {
        ids[row[0]]
        for row in await connection.fetch(
            "SELECT id FROM patients WHERE id = ANY($1::text[])", list(ids)
        )
    }
    taken |= {
        phones[row[0]]
        for row in await connection.fetch(
            "SELECT phone_no FROM patients WHERE phone_no = ANY($1::text[])", list(phones)
        )
    }
    free = [n for n in candidates if n not in taken]
    if len(free) < count:
        raise RuntimeError("too many ids or phone numbers already taken; run the seed again")
    return free[:count]


# The wallet rows are copied into a scratch table, then posted to the ledger as the wallet's
# adjustments (as migration 0020 moved the old wallet history), in order.
_SEED_WALLET = """
CREATE TEMP TABLE IF NOT EXISTS seed_wallet (
    patient_id text, amount numeric(12, 2), balance_after numeric(12, 2), reason text,
    actor text, actor_kind text, created_at timestamptz
) ON COMMIT DELETE ROWS
"""
_POST_SEED_WALLET = """
WITH moved AS (
    SELECT patient_id, amount, balance_after, reason, actor, actor_kind, created_at,
           nextval(pg_get_serial_sequence('ledger_transactions', 'id')) AS transaction_id
    FROM seed_wallet ORDER BY patient_id, created_at
), posted AS (
    INSERT INTO ledger_transactions (id, kind, patient_id, memo, actor, actor_kind, created_at)
    OVERRIDING SYSTEM VALUE
    SELECT transaction_id, 'wallet_adjustment', patient_id, reason, actor, actor_kind, created_at
    FROM moved
)
INSERT INTO ledger_entries (transaction_id, account, patient_id, amount, balance_after, created_at)
SELECT transaction_id, side.account, side.patient_id, side.amount, side.balance_after, created_at
FROM moved, LATERAL (VALUES
    (1, 'wallet', moved.patient_id, -moved.amount, moved.balance_after),
    (2, 'adjustments', NULL, moved.amount, NULL)
) AS side (position, account, patient_id, amount, balance_after)
ORDER BY moved.transaction_id, side.position
"""


async def copy_batch(connection: Any, plan: Plan, keyring: Keyring, batch_index: int) -> int:
    """Build and COPY one batch in its own transaction; returns the ledger rows written."""
    for attempt in range(1, BATCH_ATTEMPTS + 1):
        numbers = await _free_numbers(connection, plan, batch_index)
        patients, ledger = build_rows(plan, keyring, numbers, batch_index)
        try:
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "patients", records=patients, columns=PATIENT_COLUMNS
                )
                if ledger:
                    await connection.execute(_SEED_WALLET)
                    await connection.copy_records_to_table(
                        "seed_wallet", records=ledger, columns=LEDGER_COLUMNS
                    )
                    await connection.execute(_POST_SEED_WALLET)
        except asyncpg.UniqueViolationError:
            # Someone created a patient with one of our ids or numbers since we looked.
            if attempt == BATCH_ATTEMPTS:
                raise
            continue
        return len(ledger)
    raise AssertionError("unreachable")


@dataclass
class _Worker:
    plan: Plan
    keyring: Keyring
    loop: asyncio.AbstractEventLoop
    connection: Any


_worker: _Worker | None = None


def _start_worker(plan: Plan) -> None:
    global _worker
    loop = asyncio.new_event_loop()
    connection = loop.run_until_complete(asyncpg.connect(plan.dsn))
    _worker = _Worker(plan, Keyring.parse(plan.keyring_spec), loop, connection)


def _run_batch(batch_index: int) -> tuple[int, int]:
    assert _worker is not None
    worker = _worker
    ledger_rows = worker.loop.run_until_complete(
        copy_batch(worker.connection, worker.plan, worker.keyring, batch_index)
    )
    return worker.plan.batch_count(batch_index), ledger_rows


Progress = Callable[[int, int], None]


async def seed(
    settings: Settings,
    database_url: str,
    count: int,
    *,
    batch_size: int = 10_000,
    workers: int | None = None,
    progress: Progress | None = None,
    seed: int | None = None,
) -> SeedReport:
    """Insert `count` made-up patients; `workers` processes (default: one per core) build and
    copy batches in parallel, or this process alone when `workers` is 1."""
    started = time.perf_counter()
    plan = await plan_for(settings, database_url, count, batch_size=batch_size, seed=seed)
    workers = max(1, min(workers or os.cpu_count() or 1, plan.batches))
    done = ledger_rows = 0

    def advance(patients: int, ledger: int) -> None:
        nonlocal done, ledger_rows
        done, ledger_rows = done + patients, ledger_rows + ledger
        if progress is not None:
            progress(done, count)

    if workers == 1:
        keyring = Keyring.parse(plan.keyring_spec)
        connection = await asyncpg.connect(plan.dsn)
        try:
            for index in range(plan.batches):
                advance(plan.batch_count(index), await copy_batch(connection, plan, keyring, index))
        finally:
            await connection.close()
    else:
        # Spawned, not forked: a worker must not inherit this process's event loop.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            workers, context, initializer=_start_worker, initargs=(plan,)
        ) as pool:
            loop = asyncio.get_running_loop()
            futures = [loop.run_in_executor(pool, _run_batch, i) for i in range(plan.batches)]
            try:
                for future in asyncio.as_completed(futures):
                    advance(*await future)
            except BaseException:
                for pending in futures:
                    pending.cancel()
                raise
    connection = await asyncpg.connect(plan.dsn)
    try:
        # Fresh statistics, so the planner knows the table's new size straight away.
        await connection.execute("ANALYZE patients, ledger_transactions, ledger_entries")
    finally:
        await connection.close()
    return SeedReport(count, ledger_rows, time.perf_counter() - started, workers)


def stderr_progress() -> Progress:
    """A one-line progress report on stderr: redrawn on a terminal, every 10% otherwise."""
    started = time.perf_counter()
    interactive = sys.stderr.isatty()
    shown = -1

    def show(done: int, total: int) -> None:
        nonlocal shown
        percent = 100 * done // max(total, 1)
        if not interactive and percent // 10 == shown // 10 and done < total:
            return
        shown = percent
        elapsed = time.perf_counter() - started
        rate = done / elapsed if elapsed else 0.0
        eta = (total - done) / rate if rate else 0.0
        line = f"seeded {done:,}/{total:,} ({percent}%) {rate:,.0f}/s, {eta:.0f}s left"
        if interactive:
            end = "\n" if done >= total else ""
            print(f"\r{line:<70}", end=end, file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    return show

"""Counting: exact up to the limit, the planner's estimate past it (app/db/counting.py).

Counted over the audit trail, whose rows are the simplest to make in bulk."""

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.repository import AuditRepository
from app.audit.schemas import AuditQuery
from app.db.counting import TRUSTED_ESTIMATE_FACTOR
from app.db.database import Database

EVERYONE = AuditQuery()


@pytest.fixture
def database(app, anonymous) -> Database:
    """The app's database; `anonymous` empties the tables afterwards."""
    database: Database = app.state.database
    return database


async def add_events(engine: AsyncEngine, count: int, *, analyze: bool = True) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO audit_events (actor, actor_kind, action, outcome, status_code)"
                " SELECT 'counter', 'staff', 'list_patients', 'success', 200"
                " FROM generate_series(1, :count)"
            ),
            {"count": count},
        )
        if analyze:
            await connection.execute(text("ANALYZE audit_events"))


async def estimate_of(engine: AsyncEngine, rows: int) -> range:
    """What the planner may estimate for `rows` rows of audit_events: it puts at least one row
    on each of the partitions, the empty ones too (the months ahead, the default one)."""
    async with engine.connect() as connection:
        partitions = await connection.scalar(
            text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit_events'::regclass")
        )
    return range(rows, rows + partitions + 1)


async def test_an_exact_count_up_to_and_at_the_limit(database, engine):
    await add_events(engine, 5)
    repo = AuditRepository(database)
    for limit in (5, 6, 1000):
        counted = await repo.count(EVERYONE, exact_up_to=limit)
        assert (counted.total, counted.exact) == (5, True), limit
    counted = await repo.count(EVERYONE, exact_up_to=None)
    assert (counted.total, counted.exact) == (5, True)


async def test_past_the_limit_the_count_is_the_estimate_and_at_least_limit_plus_one(
    database, engine
):
    await add_events(engine, 40)
    repo = AuditRepository(database)
    estimate = await estimate_of(engine, 40)
    counted = await repo.count(EVERYONE, exact_up_to=14)  # 40 expected: under 3 times 14
    assert counted.total in estimate
    assert not counted.exact
    counted = await repo.count(EVERYONE, exact_up_to=39)
    assert counted.total in estimate
    assert not counted.exact


async def test_an_estimate_far_above_the_limit_is_taken_alone(database, engine):
    await add_events(engine, 200)
    limit = 200 // TRUSTED_ESTIMATE_FACTOR - 1
    counted = await AuditRepository(database).count(EVERYONE, exact_up_to=limit)
    assert counted.total in await estimate_of(engine, 200)
    assert not counted.exact


async def test_a_filter_is_estimated_from_its_own_statistics(database, engine):
    await add_events(engine, 300)
    repo = AuditRepository(database)
    counted = await repo.count(AuditQuery(actor="nobody"), exact_up_to=10)
    assert (counted.total, counted.exact) == (0, True)
    counted = await repo.count(AuditQuery(actor="counter"), exact_up_to=10)
    assert counted.total in await estimate_of(engine, 300)
    assert not counted.exact

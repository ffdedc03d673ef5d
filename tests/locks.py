"""Waiting for requests to reach PostgreSQL's advisory locks, so a test can order them."""

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_COUNT = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted = :granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


async def advisory_locks(engine: AsyncEngine, count: int, *, granted: bool) -> None:
    """Waits (up to 5 s) until `count` advisory locks of this database are held (`granted`) or
    waited for (not `granted`): the other workers' databases do not count."""
    for _ in range(500):
        async with engine.connect() as connection:
            if await connection.scalar(_COUNT, {"granted": granted}) == count:
                return
        await asyncio.sleep(0.01)
    state = "held" if granted else "waited for"
    raise AssertionError(f"never {count} advisory locks {state}")

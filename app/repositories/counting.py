"""Counting the rows of a list: exact while that is cheap, PostgreSQL's estimate past a cap.

An exact `count(*)` of a search that matches half a million rows reads half a million rows, on
every page. So a list first asks the planner how many rows it expects (`EXPLAIN`: no rows read,
half a millisecond). Over three times `exact_up_to` expected: that estimate is the count (the
capped count would read `exact_up_to` rows only to be replaced by the estimate). Otherwise
it counts at most `exact_up_to + 1` matches (it stops there): exact up to `exact_up_to`, and
beyond, the estimate but at least `exact_up_to + 1`. The planner can be wrong by a few times
either way (the statistics are a sample), hence the margin before an estimate is trusted alone.
"""

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

TRUSTED_ESTIMATE_FACTOR = 3


@dataclass(frozen=True)
class Count:
    total: int
    exact: bool


class Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON)` of a statement, planned with its actual parameters."""

    inherit_cache = False  # compiled each time: SQLAlchemy caches only statements it can type

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


async def count_rows(session: AsyncSession, rows: Select[Any], *, exact_up_to: int | None) -> Count:
    """How many rows `rows` selects: exact up to `exact_up_to` (None: always exact)."""
    if exact_up_to is None:
        counted = select(func.count()).select_from(rows.order_by(None).subquery())
        return Count((await session.execute(counted)).scalar_one(), exact=True)
    estimate = await _estimate(session, rows)
    if estimate > TRUSTED_ESTIMATE_FACTOR * exact_up_to:
        return Count(estimate, exact=False)
    capped = rows.order_by(None).limit(exact_up_to + 1).subquery()
    total = (await session.execute(select(func.count()).select_from(capped))).scalar_one()
    if total <= exact_up_to:
        return Count(total, exact=True)
    return Count(max(estimate, total), exact=False)


async def _estimate(session: AsyncSession, rows: Select[Any]) -> int:
    plan = (await session.execute(Explain(rows.order_by(None)))).scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])

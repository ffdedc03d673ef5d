"""Counting the rows of a list: exact while that is cheap, PostgreSQL's estimate past a cap.

An exact `count(*)` of a search that matches half a million rows reads half a million rows, on
every page. So a list first asks the planner how many rows it expects (`EXPLAIN`: no rows read,
half a millisecond). Over three times `exact_up_to` expected: that estimate is the count (the
capped count would read `exact_up_to` rows only to be replaced by the estimate). Otherwise
it counts at most `exact_up_to + 1` matches (it stops there): exact up to `exact_up_to`, and
beyond, the estimate but at least `exact_up_to + 1`. The planner can be wrong by a few times
either way (the statistics are a sample), hence the margin before an estimate is trusted alone.
"""

from dataclasses import dataclass
from typing import Any, TypedDict

from sqlalchemy import Executable, Select, bindparam, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from app.db.query import Executor, Query

TRUSTED_ESTIMATE_FACTOR = 3
CAP = "count_cap"


class CountRow(TypedDict):
    count: int


# EXPLAIN (FORMAT JSON)'s one row: the plan, as JSON.
PlanRow = TypedDict("PlanRow", {"QUERY PLAN": list[dict[str, Any]]})


@dataclass(frozen=True)
class Count:
    total: int
    exact: bool


class Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON)` of a statement, planned with its actual parameters."""

    inherit_cache = False

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def _plan(statement: Select[Any]) -> Query[PlanRow]:
    return Query(Explain(statement), PlanRow, checked=False)  # EXPLAIN declares no columns


class Counting:
    """The statements that count the rows of one select, compiled once: a repository keeps one
    per list shape."""

    def __init__(self, rows: Select[Any]) -> None:
        unordered = rows.order_by(None)
        self.estimate = _plan(unordered)
        self.capped = Query(
            select(func.count().label("count")).select_from(
                unordered.limit(bindparam(CAP)).subquery()
            ),
            CountRow,
        )
        self.exact = Query(
            select(func.count().label("count")).select_from(unordered.subquery()), CountRow
        )

    async def count(
        self, executor: Executor, params: dict[str, Any], *, exact_up_to: int | None
    ) -> Count:
        """How many rows the select selects with `params`: exact up to `exact_up_to` (None:
        always exact)."""
        if exact_up_to is None:
            return Count(await _scalar(executor, self.exact, params), exact=True)
        estimate = await _estimate(executor, self.estimate, params)
        if estimate > TRUSTED_ESTIMATE_FACTOR * exact_up_to:
            return Count(estimate, exact=False)
        total = await _scalar(executor, self.capped, {**params, CAP: exact_up_to + 1})
        if total <= exact_up_to:
            return Count(total, exact=True)
        return Count(max(estimate, total), exact=False)


async def _scalar(executor: Executor, query: Query[CountRow], params: dict[str, Any]) -> int:
    row = await executor.fetch_one(query, **params)
    assert row is not None
    return row["count"]


async def _estimate(executor: Executor, query: Query[PlanRow], params: dict[str, Any]) -> int:
    row = await executor.fetch_one(query, **params)
    assert row is not None
    return int(row["QUERY PLAN"][0]["Plan"]["Plan Rows"])

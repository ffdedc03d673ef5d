"""`python -m bench.audit`: the audit list's queries on a large, partitioned audit trail.

Makes a database `audit_scale` on BENCH_DATABASE_URL's server (unless `--reuse` finds it),
migrates it and seeds it with `python -m app seed --count P --audit-rows E` (which ends with
ANALYZE); then, for each filter combination of `GET /api/audit/`, runs the statements the
service runs (app.audit.repository: the page, `ORDER BY at DESC, id DESC OFFSET 0 LIMIT 21`,
and its count, app.db.counting) with EXPLAIN (ANALYZE, BUFFERS), and times them. It prints a
report in Markdown (the plans in full in bench/out/) and fails if any plan reads a partition
sequentially. bench/README.md ("The audit trail at 100 million events") has the figures.

Run it under `nice -n 10` on a shared machine: the seed keeps both cores busy for a while.
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from app.audit.repository import _events
from app.audit.schemas import AuditEventRow, AuditQuery
from app.core.config import Settings
from app.db.database import Transaction, server_settings
from app.db.query import Query, R
from bench.common import BENCH_DIR, OUT_DIR

ROOT = BENCH_DIR.parent
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
EXACT_UP_TO = 1000  # LIST_EXACT_COUNT_LIMIT's default
PAGE = {"offset": 0, "limit": 21}
SMALL_PARTITION = 1_000  # rows  # page 1 of 20, and one more to know there is a next page


def log(message: str) -> None:
    print(f"[audit {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# -- the database ----------------------------------------------------------------------------


async def _exists(server: str, name: str) -> bool:
    connection = await asyncpg.connect(plain(server))
    try:
        return bool(await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await connection.close()


async def _admin(server: str, statement: str) -> None:
    connection = await asyncpg.connect(plain(server))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _app(url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "ENVIRONMENT": "development"}
    subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


def prepare(args: argparse.Namespace) -> str:
    url = plain(make_url(args.server).set(database=args.database).render_as_string(False))
    if args.reuse and asyncio.run(_exists(args.server, args.database)):
        log(f"reusing {args.database}")
        return url
    log(f"creating {args.database}")
    asyncio.run(_admin(args.server, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)'))
    asyncio.run(_admin(args.server, f'CREATE DATABASE "{args.database}"'))
    _app(url, "migrate")
    started = time.perf_counter()
    _app(
        url,
        "seed",
        "--count",
        str(args.patients),
        "--audit-rows",
        str(args.events),
        "--audit-months",
        str(args.months),
    )
    log(f"seeded in {time.perf_counter() - started:.0f} s")
    return url


# -- measuring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    label: str
    query: AuditQuery


@dataclass
class Measured:
    case: Case
    matches: int | None
    page_ms: list[float]
    page_plan: str
    count: str
    count_ms: list[float]
    count_plan: str

    def sequential(self, rows: dict[str, int]) -> list[str]:
        """The partitions the plans read sequentially, but for those of a few pages (the
        months ahead, an empty default partition), which the planner rightly reads whole."""
        scanned = re.findall(r"Seq Scan on (\S+)", self.page_plan + self.count_plan)
        return sorted({name for name in scanned if rows.get(name, 0) > SMALL_PARTITION})


async def _connect(url: str) -> asyncpg.Connection:
    settings = {**server_settings(Settings(environment="test")), "statement_timeout": "0"}
    connection = await asyncpg.connect(url, server_settings=settings)
    await connection.set_type_codec(
        "json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )
    return connection


async def _timed(
    connection: asyncpg.Connection, query: Query[AuditEventRow], params: dict[str, Any]
) -> float:
    started = time.perf_counter()
    await connection.fetch(query.sql, *query.arguments(params))
    return (time.perf_counter() - started) * 1000


async def _explain(connection: asyncpg.Connection, query: Query[R], params: dict[str, Any]) -> str:
    rows = await connection.fetch(
        "EXPLAIN (ANALYZE, BUFFERS) " + query.sql, *query.arguments(params)
    )
    return "\n".join(row[0] for row in rows)


def _filters(query: AuditQuery) -> tuple[tuple[bool, bool, bool], dict[str, str]]:
    values = {"patient": query.patient, "actor": query.actor, "action": query.action}
    present = (query.patient is not None, query.actor is not None, query.action is not None)
    return present, {name: value for name, value in values.items() if value is not None}


async def measure(connection: asyncpg.Connection, case: Case, repeat: int) -> Measured:
    present, filters = _filters(case.query)
    page, counting = _events(*present)
    params = {**filters, **PAGE}
    page_ms = [await _timed(connection, page, params) for _ in range(repeat)]
    page_plan = await _explain(connection, page, params)

    executor = Transaction(connection)
    count_ms = []
    for _ in range(repeat):
        started = time.perf_counter()
        count = await counting.count(executor, filters, exact_up_to=EXACT_UP_TO)
        count_ms.append((time.perf_counter() - started) * 1000)
    estimate = await counting.estimate.fetch_one(connection, filters)
    assert estimate is not None
    estimated = int(estimate["QUERY PLAN"][0]["Plan"]["Plan Rows"])
    if count.exact or estimated <= 3 * EXACT_UP_TO:
        capped = {**filters, "count_cap": EXACT_UP_TO + 1}
        count_plan = await _explain(connection, counting.capped, capped)
        shown = (
            f"{count.total:,} ({'exact' if count.exact else 'estimate'}; planner: {estimated:,})"
        )
    else:
        count_plan = ""  # the estimate alone: EXPLAIN, no rows read
        shown = f"{count.total:,} (estimate alone)"
    return Measured(case, None, page_ms, page_plan, shown, count_ms, count_plan)


async def _most_common(connection: asyncpg.Connection, column: str, kind: str | None) -> str:
    """The most common value of `column` in the parent's statistics (ANALYZE's sample)."""
    values = await connection.fetchval(
        "SELECT most_common_vals::text::text[] FROM pg_stats "
        "WHERE tablename = 'audit_events' AND attname = $1 AND inherited",
        column,
    )
    for value in values or ():
        if kind is None or value.startswith(kind):
            return str(value)
    raise SystemExit(f"no statistics on audit_events.{column}: ANALYZE it first")


async def cases(connection: asyncpg.Connection) -> list[Case]:
    busy = await _most_common(connection, "patient_id", "p_")
    staff = await _most_common(connection, "actor", None)
    typical = await connection.fetchval(
        "SELECT id FROM patients ORDER BY md5(id) LIMIT 1 OFFSET "
        "(SELECT count(*) / 2 FROM patients)"
    )
    return [
        Case(f"patient (the busiest, {busy})", AuditQuery(patient=busy)),
        Case(f"patient (one picked by hash, {typical})", AuditQuery(patient=typical)),
        Case(f"actor (the busiest staff member, {staff})", AuditQuery(actor=staff)),
        Case(f"actor (a patient, {typical})", AuditQuery(actor=typical)),
        Case(
            "patient + action (busiest, update_wallet)",
            AuditQuery(patient=busy, action="update_wallet"),
        ),
        Case(
            "patient + action (busiest, delete_patient)",
            AuditQuery(patient=busy, action="delete_patient"),
        ),
        Case(
            "patient + action (by hash, update_wallet)",
            AuditQuery(patient=typical, action="update_wallet"),
        ),
        Case("action (delete_patient)", AuditQuery(action="delete_patient")),
        Case("no filter", AuditQuery()),
    ]


async def sizes(connection: asyncpg.Connection) -> list[tuple[str, int, int, int]]:
    """(partition, rows, table bytes, index bytes) for every partition."""
    rows = await connection.fetch(
        "SELECT c.relname, c.reltuples::bigint, pg_table_size(c.oid), pg_indexes_size(c.oid) "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'audit_events'::regclass ORDER BY c.relname"
    )
    return [(row[0], row[1], row[2], row[3]) for row in rows]


async def index_sizes(connection: asyncpg.Connection) -> list[tuple[str, int]]:
    rows = await connection.fetch(
        "SELECT i.relname, (SELECT sum(pg_relation_size(relid)) FROM pg_partition_tree(i.oid)) "
        "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = 'audit_events'::regclass ORDER BY i.relname"
    )
    return [(row[0], int(row[1])) for row in rows]


async def brin(connection: asyncpg.Connection, partition: str) -> dict[str, Any]:
    """A BRIN index on `at` beside the btree on (at, id), on one month, and the unfiltered page
    without an ordered index (what BRIN leaves it: a BRIN index yields no order)."""
    assert re.fullmatch(r"audit_events_\d{4}_\d{2}", partition)
    started = time.perf_counter()
    await connection.execute(f"CREATE INDEX audit_scale_brin ON {partition} USING brin (at)")
    built = time.perf_counter() - started
    brin_bytes = await connection.fetchval("SELECT pg_relation_size('audit_scale_brin')")
    btree_bytes = await connection.fetchval(
        "SELECT pg_relation_size(c.oid) FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
        "WHERE x.indrelid = $1::regclass AND pg_get_indexdef(c.oid) LIKE '%(at, id)'",
        partition,
    )
    await connection.execute("DROP INDEX audit_scale_brin")
    async with connection.transaction():
        await connection.execute(
            "SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; "
            "SET LOCAL enable_bitmapscan = off"
        )
        rows = await connection.fetch(
            f"EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM {partition} "  # noqa: S608
            "ORDER BY at DESC, id DESC LIMIT 21"
        )
    return {
        "partition": partition,
        "brin_bytes": brin_bytes,
        "brin_seconds": built,
        "btree_bytes": btree_bytes,
        "unordered_plan": "\n".join(row[0] for row in rows),
    }


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ms (first {values[0]:.2f}, max {max(values):.2f})"


PARTITION_INDEX = re.compile(r"^audit_events_(?:\d{4}_\d{2}|default)_")


def _summary(plan: str) -> str:
    """The plan's node types and indexes (by their partitioned index's columns), in order, once
    each."""
    seen: list[str] = []
    for line in plan.splitlines():
        node = re.match(r"\s*(?:->\s*)?([A-Z][A-Za-z ]+?)(?: using (\S+))?(?: on \S+.*)?  \(", line)
        if node is None:
            continue
        name = node[1]
        if node[2]:
            name += " (" + PARTITION_INDEX.sub("", node[2]) + ")"
        if name not in seen:
            seen.append(name)
    return " > ".join(seen)


def _execution(plan: str) -> str:
    match = re.search(r"Execution Time: ([\d.]+) ms", plan)
    buffers = re.search(r"Buffers: (shared [^\n]+)", plan)
    return f"{match[1] if match else '?'} ms, {buffers[1] if buffers else 'no buffers'}"


def report(results: list[Measured], partitions: Any, indexes: Any, brin_result: Any) -> str:
    lines = [
        "| filter | page: median (first, max) | page plan | count | count: median |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        lines.append(
            f"| {result.case.label} | {_ms(result.page_ms)} | {_summary(result.page_plan)} "
            f"| {result.count} | {statistics.median(result.count_ms):.2f} ms |"
        )
    total_rows = sum(row[1] for row in partitions)
    lines += ["", "| partition | rows (reltuples) | table | indexes |", "|---|---|---|---|"]
    for name, rows, table, index in partitions:
        lines.append(f"| {name} | {rows:,} | {table / 2**20:,.0f} MiB | {index / 2**20:,.0f} MiB |")
    lines.append(
        f"| all | {total_rows:,} | {sum(r[2] for r in partitions) / 2**30:,.2f} GiB "
        f"| {sum(r[3] for r in partitions) / 2**30:,.2f} GiB |"
    )
    lines += ["", "| index (all partitions) | size |", "|---|---|"]
    lines += [f"| {name} | {size / 2**30:,.2f} GiB |" for name, size in indexes]
    if brin_result:
        brin_kib = brin_result["brin_bytes"] / 2**10
        btree_mib = brin_result["btree_bytes"] / 2**20
        lines += [
            "",
            f"BRIN on `at` of {brin_result['partition']}: {brin_kib:,.0f} KiB (built in "
            f"{brin_result['brin_seconds']:.1f} s), beside {btree_mib:,.0f} MiB for its btree on "
            "(at, id). The unfiltered page without an ordered index: "
            f"{_execution(brin_result['unordered_plan'])}.",
        ]
    return "\n".join(lines)


def plans(results: list[Measured], brin_result: Any) -> str:
    out = []
    for result in results:
        out += [f"## {result.case.label}", "", "Page:", "", "```", result.page_plan, "```", ""]
        if result.count_plan:
            out += ["Capped count:", "", "```", result.count_plan, "```", ""]
    if brin_result:
        out += [
            "## The unfiltered page without an ordered index",
            "",
            "```",
            brin_result["unordered_plan"],
            "```",
        ]
    return "\n".join(out)


async def run(url: str, args: argparse.Namespace) -> int:
    connection = await _connect(url)
    try:
        version = await connection.fetchval("SHOW server_version")
        total = await connection.fetchval(
            "SELECT sum(reltuples)::bigint FROM pg_class c "
            "JOIN pg_inherits i ON c.oid = i.inhrelid WHERE i.inhparent = 'audit_events'::regclass"
        )
        log(f"PostgreSQL {version}, about {total:,} audit events")
        results = []
        for case in await cases(connection):
            log(case.label)
            results.append(await measure(connection, case, args.repeat))
        partitions = await sizes(connection)
        indexes = await index_sizes(connection)
        brin_result = None
        if args.brin:
            largest = max((p for p in partitions if p[0][-2:].isdigit()), key=lambda p: p[1])
            log(f"BRIN beside the btree on {largest[0]}")
            brin_result = await brin(connection, largest[0])
    finally:
        await connection.close()
    text = report(results, partitions, indexes, brin_result)
    print(text)
    OUT_DIR.mkdir(exist_ok=True)
    out = OUT_DIR / f"audit-{time.strftime('%Y%m%d-%H%M')}.md"
    out.write_text(text + "\n\n" + plans(results, brin_result) + "\n")
    log(f"plans in {out}")
    rows = {name: count for name, count, _, _ in partitions}
    sequential = [
        f"{result.case.label}: {', '.join(scanned)}"
        for result in results
        if (scanned := result.sequential(rows))
    ]
    for found in sequential:
        log(f"sequential scan: {found}")
    return 1 if sequential else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.audit", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--server", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER))
    parser.add_argument("--database", default="audit_scale")
    parser.add_argument("--events", type=int, default=100_000_000)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=20, help="Runs of each statement timed.")
    parser.add_argument("--reuse", action="store_true", help="Measure the database if it exists.")
    parser.add_argument("--brin", action="store_true", help="Also size a BRIN index on one month.")
    parser.add_argument("--drop", action="store_true", help="Drop the database at the end.")
    args = parser.parse_args()
    url = prepare(args)
    try:
        status = asyncio.run(run(url, args))
    finally:
        if args.drop:
            asyncio.run(
                _admin(args.server, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
            )
            log(f"dropped {args.database}")
    raise SystemExit(status)


if __name__ == "__main__":
    main()

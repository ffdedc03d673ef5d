"""The same captured SQL as pgbench custom scripts: the database's floor with a C client.

Values are written into the script as literals (strings as E'…' with `:` escaped, which pgbench
would otherwise take for a variable). The per-request values become SQL pgbench can vary:
a random seeded patient is `(SELECT id FROM bench_ids WHERE n = :n)` (an extra primary-key
probe of a small table, a few microseconds), a new id comes from `random()`, a phone number
from the client's number and a counter, and the balance a ledger row repeats is read back
with `\\gset`.
"""

import re
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bench.common import BALANCE, NEW_ID, PATIENT, PHONE, Result, decode_argument, percentile
from bench.cores import pinned

PARAMETER = re.compile(r"\$(\d+)")
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(_literal(item) for item in value) + "]"
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    escaped = text.replace("\\", "\\\\").replace("'", "''").replace(":", "\\x3a")
    return f"E'{escaped}'"


def _new_id() -> str:
    digits = " || ".join(
        f"substr('{ALPHABET}', (:k::bigint / {36**i} % 36)::int + 1, 1)" for i in range(6)
    )
    return f"('p_' || {digits})"


PLACEHOLDER_SQL = {
    PATIENT: "(SELECT id FROM bench_ids WHERE n = :n)",
    NEW_ID: _new_id(),
    BALANCE: ":r_wallet_balance",
}


def script(steps: list[list[Any]], ids: int, phone_prefix: str) -> str:
    """A pgbench script for one request's round trips; `phone_prefix` is + and 5 digits."""
    lines = [
        f"\\set n random(1, {max(ids, 1)})",
        f"\\set k random(0, {36**6 - 1})",
        "\\set seq :seq + 1",
    ]
    phone = f"('{phone_prefix}' || lpad(:client_id::text, 3, '0') || lpad(:seq::text, 6, '0'))"
    placeholders = {**PLACEHOLDER_SQL, PHONE: phone}
    balance_needed = any(
        isinstance(a, dict) and a.get("$") == BALANCE
        for step in steps
        if step[0] == "sql"
        for a in step[2]
    )
    for step in steps:
        kind = step[0]
        if kind == "ping":
            lines += ["BEGIN;", ";", "ROLLBACK;"]
        elif kind in ("begin", "commit", "rollback"):
            lines.append(f"{kind.upper()};")
        else:
            statement, arguments = step[1], step[2]

            def render(match: re.Match[str], arguments: list[Any] = arguments) -> str:
                argument = arguments[int(match.group(1)) - 1]
                if isinstance(argument, dict) and "$" in argument:
                    return placeholders[argument["$"]]
                return _literal(decode_argument(argument))

            sql = PARAMETER.sub(render, " ".join(statement.split()))
            returns_balance = "RETURNING" in sql and "wallet_balance" in sql
            lines.append(sql + (" \\gset r_" if balance_needed and returns_balance else ";"))
    return "\n".join(lines) + "\n"


def run(
    database_url: str,
    script_text: str,
    *,
    clients: int,
    threads: int,
    session: dict[str, str],
    warmup: float,
    duration: float,
    work_dir: Path,
    cpus: frozenset[int] | None = None,
) -> Result:
    url = make_url(database_url)
    connection = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    connection += ["-U", url.username or "postgres", url.database or "postgres"]
    # The service's session settings, as libpq's PGOPTIONS (values here have no spaces).
    env = {"PGOPTIONS": " ".join(f"-c {name}={value}" for name, value in session.items())}
    if url.password:
        env["PGPASSWORD"] = url.password
    work_dir.mkdir(parents=True, exist_ok=True)
    script_file = work_dir / "script.sql"
    script_file.write_text(script_text)
    common = pinned(
        ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(threads)], cpus
    )
    common += ["-f", str(script_file)]
    if warmup > 0:
        subprocess.run(  # noqa: S603 - our own arguments
            [*common, "-D", "seq=0", "-T", str(max(1, round(warmup))), *connection],
            capture_output=True,
            text=True,
            check=False,
            env=_env(env),
        )
    with tempfile.TemporaryDirectory(dir=work_dir) as logs:
        finished = subprocess.run(  # noqa: S603
            # Counters start higher than the warm-up's went: phone numbers stay unique.
            [
                *common,
                "-D",
                "seq=500000",
                "-T",
                str(round(duration)),
                "-l",
                "--log-prefix",
                f"{logs}/tx",
                *connection,
            ],
            capture_output=True,
            text=True,
            check=False,
            env=_env(env),
        )
        # client, transaction, latency µs, script, end s, end µs: keep what ended in the run
        # (pgbench lets the transactions in flight at the end finish, and logs them too).
        logged = [
            (int(fields[2]), int(fields[4]) * 1_000_000 + int(fields[5]))
            for log in Path(logs).iterdir()
            for fields in (line.split() for line in log.read_text().splitlines())
            if len(fields) >= 6
        ]
        start = min((end - latency for latency, end in logged), default=0)
        limit = start + duration * 1_000_000
        latencies = sorted(latency / 1000 for latency, end in logged if end <= limit)
    output = finished.stdout + finished.stderr
    (work_dir / "pgbench.out").write_text(output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    aborted = len(re.findall(r"aborted in command", output))
    tps = re.search(r"tps = ([0-9.]+)", output)
    return Result(
        requests=len(latencies),
        seconds=duration,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        errors=(int(failed.group(1)) if failed else 0) + aborted,
        note="" if tps else "pgbench failed: see " + str(work_dir / "pgbench.out"),
    )


def _env(extra: dict[str, str]) -> dict[str, str]:
    import os

    return {**os.environ, **extra}

"""`python -m bench` (`make bench`): the API under load at each size, next to its database's floor.

For each size: a fresh database `bench_<size>` on BENCH_DATABASE_URL's server, migrated, seeded
(`python -m app seed`) and vacuumed; an admin and their token; the SQL of one request of each
operation, captured from the app (bench/capture.py). Then, for each operation:
  1. the service as in production (uvicorn, 2 workers, uvloop, httptools) driven by wrk;
  2. the same SQL through bare asyncpg (bench/floor.py);
  3. the same SQL as a pgbench script (bench/pgbench.py);
at the same concurrency, for the same time after a warm-up. bench/README.md explains the figures.
--one-core (issue 12): one worker pinned to one CPU, wrk and PostgreSQL on another (bench/cores.py),
beside the ceiling (bench/ceiling.py) and the asyncpg floor served the same way.
"""

import argparse
import asyncio
import base64
import json
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench import floor, pgbench
from bench.common import (
    BENCH_DIR,
    OUT_DIR,
    PHONE_PREFIX,
    Operation,
    Result,
    load_steps,
    operations,
)
from bench.cores import Cores, affinity, busy_seconds, cpu_list, pinned, postgres_on

PROTOCOL = "app.core.server:BoundedHttpToolsProtocol"

ROOT = BENCH_DIR.parent
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN = ("bench-admin", "bench-admin-password-1")
ID_SAMPLE = 10_000
WORKERS = 2
FEW = 100  # fewer measured requests than this: the figure is marked *


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the database ----------------------------------------------------------------------------


def plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(server: str, name: str) -> str:
    return plain(make_url(server).set(database=name).render_as_string(hide_password=False))


async def _sql(url: str, statements: tuple[str, ...]) -> list[Any]:
    connection = await asyncpg.connect(url)
    try:
        return [await connection.fetch(statement) for statement in statements]
    finally:
        await connection.close()


def sql(url: str, *statements: str) -> list[Any]:
    """Each statement's rows, on a connection of its own (VACUUM runs outside a transaction)."""
    return asyncio.run(_sql(url, statements))


async def _rows(url: str, statement: str, args: tuple[Any, ...]) -> list[Any]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


def rows(url: str, statement: str, *args: Any) -> list[Any]:
    return asyncio.run(_rows(url, statement, args))


def value(url: str, statement: str, *args: Any) -> Any:
    return rows(url, statement, *args)[0][0]


def python(*args: str, env: dict[str, str], capture: bool = False) -> str:
    """`python …` in the repo root, as an operator runs it; its stdout when `capture`."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        text=True,
        check=False,
    )
    if done.returncode != 0 and not (capture and "already exists" in done.stderr):
        raise RuntimeError(f"python {' '.join(args[:3])} failed:\n{done.stderr or ''}")
    return done.stdout or ""


def revision(root: Path) -> str:
    """The checkout's commit, as `git describe` names it."""
    done = subprocess.run(  # noqa: S603
        ["git", "-C", str(root), "describe", "--always", "--dirty"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "not a git checkout"


def service_env(url: str, out: Path, reuse: bool, one_core: bool = False) -> dict[str, str]:
    """The service's settings for this database; its secrets are kept for --reuse. One-core
    mode logs as production does: LOG_LEVEL and LOG_FORMAT unset (info, JSON)."""
    stored = out / "secrets.json"
    if reuse and stored.exists():
        keys = json.loads(stored.read_text())
    else:
        keys = {
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PHI_ENCRYPTION_KEYS": "bench1:" + base64.b64encode(os.urandom(32)).decode(),
        }
        stored.write_text(json.dumps(keys))
    env = {
        **os.environ,
        **keys,
        "ENVIRONMENT": "production",
        "DATABASE_URL": url,
        "DATA_DIR": str(out / "data"),
        "API_RATE_LIMIT": "1000000000/minute",
        "LOG_LEVEL": "warning",
        "ALLOWED_HOSTS": '["127.0.0.1"]',  # production checks the Host, as deployed
        "METRICS_ALLOWED_NETWORKS": '["127.0.0.0/8"]',  # production's /metrics is not open
    }
    if one_core:
        for name in ("LOG_LEVEL", "LOG_FORMAT"):
            env.pop(name, None)
    return env


def prepare_database(
    server: str, size: int, env: dict[str, str], reuse: bool
) -> tuple[float | None, str]:
    """Create, migrate and seed `bench_<size>`: the seconds the seed took (None when reused)
    and what it printed."""
    name = f"bench_{size}"
    url = database_url(server, name)
    if reuse and rows(server, "SELECT 1 FROM pg_database WHERE datname = $1", name):
        count = value(url, "SELECT count(*) FROM patients")
        if count >= size:
            log(f"reusing {name} ({count:,} patients); migrating")
            python("-m", "app", "migrate", env=env, capture=True)
            return None, f"reused {name} with {count:,} patients"
    sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    log(f"created {name}; migrating")
    python("-m", "app", "migrate", env=env, capture=True)
    log(f"seeding {size:,} patients")
    started = time.perf_counter()
    printed = python("-m", "app", "seed", "--count", str(size), env=env, capture=True).strip()
    seconds = time.perf_counter() - started
    log(printed)
    return seconds, printed


def settle(url: str) -> None:
    """The same start for each tool: fresh statistics and visibility map, nothing to flush."""
    sql(
        url,
        "VACUUM (ANALYZE) patients, ledger_transactions, ledger_entries, audit_events",
        "CHECKPOINT",
    )


def free_salt(url: str, prefix: str, taken: set[str]) -> str:
    """prefix + 4 digits, with which no phone number in the table starts yet."""
    while True:
        salt = f"{prefix}{random.randint(1000, 9999)}"  # noqa: S311 - not a secret
        if salt not in taken and not value(
            url, "SELECT count(*) FROM patients WHERE phone_no LIKE $1 || '%'", salt
        ):
            taken.add(salt)
            return salt


def forget_created(url: str, salt: str) -> None:
    """Delete what a create run made, so the next tool finds the table as seeded."""
    rows(url, "DELETE FROM patients WHERE phone_no LIKE $1 || '%'", salt)


async def _bench_ids(url: str, ids: list[str]) -> None:
    """The sampled ids, numbered, for pgbench scripts to draw from: table `bench_ids`."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "DROP TABLE IF EXISTS bench_ids;"
            " CREATE TABLE bench_ids (n integer PRIMARY KEY, id varchar(9) NOT NULL)"
        )
        await connection.copy_records_to_table(
            "bench_ids", records=list(enumerate(ids, start=1)), columns=("n", "id")
        )
        await connection.execute("ANALYZE bench_ids")
    finally:
        await connection.close()


# -- the service under wrk -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Service:
    """uvicorn as in production, started (and stopped) by us.

    With `cores` (one-core mode): one worker, which uvicorn runs in its own process, pinned to
    `cores.service`, at uvicorn's and the app's default log level, its output in `log`."""

    def __init__(
        self,
        env: dict[str, str],
        app: str = "app.main:app",
        cores: Cores | None = None,
        log: Path | None = None,
        root: Path = ROOT,
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.count = WORKERS if cores is None else 1
        command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", str(self.count), "--loop", "uvloop"]
        # The protocol the image runs, when the checkout served has it (an older one: httptools).
        bounded = (root / "app" / "core" / "server.py").exists()
        command += ["--http", PROTOCOL if bounded else "httptools", "--no-access-log"]
        command += ["--no-proxy-headers"]
        if cores is None:
            command += ["--log-level", "warning"]
        self.log = log.open("w") if log is not None else None
        if root != ROOT:  # another checkout's service (--service-root): its own `app` first
            env = {
                **env,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")])),
            }
        self.process = subprocess.Popen(  # noqa: S603
            pinned(command, cores.service if cores else None),
            cwd=root,
            env=env,
            start_new_session=True,
            stdout=self.log,
            stderr=self.log,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline, answered = time.monotonic() + timeout, 0
        while answered < 20 or len(self.workers()) < self.count:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the service did not become ready")
            try:
                ok = httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                ok = False
            answered = answered + 1 if ok else 0
            time.sleep(0.05 if ok else 0.5)

    def token(self) -> str:
        answer = httpx.post(
            f"{self.base}/api/auth/token/",
            data={"username": ADMIN[0], "password": ADMIN[1]},
            timeout=30,
        )
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        return token

    def workers(self) -> list[int]:
        """The worker processes: the uvicorn master's children that run the app (with one
        worker, uvicorn runs the app in its own process)."""
        pid = self.process.pid
        if self.count == 1:
            return [pid] if self.process.poll() is None else []
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []
        found = []
        for child in children:
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in command and b"resource_tracker" not in command:
                found.append(int(child))
        return sorted(found)

    def memory(self) -> list[tuple[int, float, float]]:
        """(pid, RSS, peak RSS) in MiB of the master, then of each worker (of the one process)."""
        found = []
        for pid in self.workers() if self.count == 1 else [self.process.pid, *self.workers()]:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            status = dict(line.split(":", 1) for line in lines if ":" in line)
            rss, peak = (int(status[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))
            found.append((pid, rss, peak))
        return found

    def drain(self, url: str, timeout: float = 180) -> None:
        """Wait for what wrk left in flight: its connections close when a run ends, but the
        workers finish the requests they had started (queued Argon2 hashes, slow lists)."""
        deadline, quiet = time.monotonic() + timeout, 0
        while quiet < 3 and time.monotonic() < deadline:
            busy = value(
                url,
                "SELECT count(*) FROM pg_stat_activity WHERE state <> 'idle'"
                " AND application_name = 'therapyconnect-patients'",
            )
            ticks = self._cpu_ticks()
            time.sleep(0.5)
            cores = (self._cpu_ticks() - ticks) / os.sysconf("SC_CLK_TCK") / 0.5
            quiet = quiet + 1 if busy == 0 and cores < 0.05 else 0

    def cpu_seconds(self) -> float:
        """CPU time the workers have used so far, user and system."""
        return self._cpu_ticks() / os.sysconf("SC_CLK_TCK")

    def _cpu_ticks(self) -> int:
        total = 0
        for pid in self.workers():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime
        return total

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the process group we started
            self.process.wait()
        if self.log is not None:
            self.log.close()


@dataclass(frozen=True)
class Load:
    """One operation against the running service."""

    service: Service
    operation: Operation
    token: str
    ids: Path
    salt: str  # create: the run's phone numbers start with it
    threads: int
    connections: int
    cpus: frozenset[int] | None = None  # wrk's (and py-spy's), in one-core mode


def wrk(load: Load, seconds: float, salt_suffix: str = "") -> Result:
    """One wrk run; a warm-up or profiling run adds a digit to the salt, to keep numbers apart."""
    operation = load.operation
    env = {**os.environ, "BENCH_TOKEN": load.token, "BENCH_IDS": str(load.ids)}
    if operation.body is not None:
        body = {**operation.body}
        if "phone_no" in body:
            body["phone_no"] = "__PHONE__"
        env["BENCH_BODY"] = json.dumps(body)
    kind, argument = operation.key, load.salt + salt_suffix
    if kind.startswith("list"):
        kind, argument = "list", operation.path
    command = pinned(["wrk", "-t", str(load.threads), "-c", str(load.connections)], load.cpus)
    command += ["-d", f"{seconds:.0f}s", "--timeout", "120s", "--latency"]
    command += ["-s", str(BENCH_DIR / "wrk.lua"), load.service.base, "--", kind, argument]
    output = subprocess.run(  # noqa: S603
        command, env=env, capture_output=True, text=True, check=True
    ).stdout
    line = next((x for x in output.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    figures = json.loads(line.removeprefix("BENCH_RESULT "))
    socket_errors = sum(figures[key] for key in ("connect", "read", "write", "timeout"))
    return Result(
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        errors=figures["non2xx"] + socket_errors,
    )


def profile(load: Load, seconds: float, out: Path) -> Path:
    """py-spy on one worker while wrk runs the operation again: collapsed stacks of the samples
    that hold the GIL (Python's CPU time; for flame graph tools) and a summary."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    stacks = out / f"profile-{load.operation.key}.txt"
    command = [py_spy, "record", "-p", str(load.service.workers()[0]), "-o", str(stacks)]
    command += ["-d", str(round(seconds)), "-r", "250", "--gil", "--format", "raw"]
    profiler = subprocess.Popen(  # noqa: S603
        pinned(command, load.cpus), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wrk(load, seconds, salt_suffix="9")
    profiler.wait()
    summary = out / f"profile-{load.operation.key}.summary.txt"
    summary.write_text(summarise(stacks))
    return summary


def _package(frame: str) -> str:
    """Where a py-spy frame `function (path:line)` lives: a package, app/…, or stdlib."""
    path = frame.rpartition("(")[2].rstrip(")").rpartition(":")[0]
    path = path.split("site-packages/", 1)[-1]
    if "/app/" in path or path.startswith("app/"):
        return "app/" + path.split("app/", 1)[1]
    top = path.lstrip("/").split("/", 1)[0].removesuffix(".py")
    return "stdlib" if top in sys.stdlib_module_names or "/lib/python3" in path else top


# The layers of a request, each by the files of its frames; the first that matches wins.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("logging", ("logging/", "structlog/", "app/core/logging.py")),
    ("JWT", ("jwt/", "app/auth/tokens.py")),
    ("rate limiter", ("app/core/ratelimit.py", "limits/")),
    ("audit", ("app/audit/",)),
    ("PHI encryption", ("cryptography/", "app/core/crypto.py", "app/db/types.py")),
    ("asyncpg", ("asyncpg/",)),
    ("SQLAlchemy (ORM, Core, async bridge)", ("sqlalchemy/", "greenlet/")),
    (
        "validation and serialization",
        ("pydantic/", "pydantic_core/", "fastapi/encoders.py", "fastapi/_compat/"),
    ),
    ("validation and serialization", ("starlette/responses.py", "json/")),
    ("middleware", ("starlette/middleware/", "starlette/_exception_handler.py")),
    ("middleware", ("fastapi/middleware/", "fastapi/_body_limit.py", "fastapi/telemetry/")),
    ("middleware", ("app/core/observability.py", "app/core/headers.py", "app/core/errors.py")),
    ("middleware", ("app/core/bodylimit.py", "app/core/metrics.py", "prometheus_client/")),
    ("FastAPI routing and dependency solving", ("fastapi/", "starlette/", "anyio/")),
    ("uvicorn and httptools", ("uvicorn/", "httptools/", "h11/")),
    ("event loop (asyncio, uvloop)", ("asyncio/", "uvloop/")),
    ("the app's own code (endpoints, repositories, session)", ("app/",)),
)


NO_FRAME = "(no Python frame: C code, uvloop's mostly)"


def _layer(frame: str) -> str | None:
    path = frame.rpartition("(")[2].rstrip(")").rpartition(":")[0]
    path = path.split("site-packages/", 1)[-1]
    if "/app/" in path:
        path = "app/" + path.split("/app/", 1)[1]
    path = path.split("/lib/python3.11/", 1)[-1].lstrip("/")
    for layer, prefixes in LAYERS:
        if path.startswith(prefixes):
            return layer
    return None


def summarise(stacks: Path, top: int = 30) -> str:
    """py-spy's collapsed stacks as four tables: time by layer, self time by package and by
    function, and time inside each function (leaving out the wrappers found in most samples)."""
    own_package: dict[str, int] = {}
    own: dict[str, int] = {}
    inside: dict[str, int] = {}
    own_layer: dict[str, int] = {}
    inside_layer: dict[str, int] = {}
    roots: dict[str, int] = {}
    total = 0
    for line in stacks.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count, frames = int(count_text), stack.split(";") if stack else []
        if frames and " (" not in frames[0]:  # a thread's label (py-spy --threads)
            frames = frames[1:]
        total += count
        if not frames:  # the GIL held with no Python frame: uvloop's C code, mostly
            frames = [NO_FRAME]
        roots[frames[0]] = roots.get(frames[0], 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        package = _package(frames[-1])
        own_package[package] = own_package.get(package, 0) + count
        for frame in set(frames):
            inside[frame] = inside.get(frame, 0) + count
        layers = [_layer(frame) for frame in frames]
        innermost = next((layer for layer in reversed(layers) if layer), "other")
        if frames == [NO_FRAME]:
            innermost = NO_FRAME
        own_layer[innermost] = own_layer.get(innermost, 0) + count
        for layer in {layer for layer in layers if layer}:
            inside_layer[layer] = inside_layer.get(layer, 0) + count

    def table(title: str, counts: dict[str, int], keep: float = 1.0) -> list[str]:
        ranked = [(n, c) for n, c in counts.items() if c <= keep * total]
        ranked.sort(key=lambda item: -item[1])
        return ["", title] + [f"{100 * c / total:6.1f}%  {n}" for n, c in ranked[:top]]

    lines = [f"{total} samples holding the GIL (Python running in the worker)"]
    main = max((root for root in roots if root != NO_FRAME), key=roots.__getitem__, default="")
    apart = total - roots.get(main, 0) - roots.get(NO_FRAME, 0)
    if total and apart:
        lines.append(
            f"{apart / total:.1%} in stacks of their own, not joined to the request's: the code"
            " SQLAlchemy runs in greenlet_spawn's greenlets"
        )
    lines += ["", "by layer: the innermost layer on the stack (a partition); anywhere on it"]
    for layer, count in sorted(own_layer.items(), key=lambda item: -item[1]):
        share, anywhere = 100 * count / total, 100 * max(count, inside_layer.get(layer, 0)) / total
        lines.append(f"{share:6.1f}%  {anywhere:6.1f}%  {layer}")
    lines += table("self time, by package:", own_package)
    lines += table("self time, by function:", own)
    lines += table("time inside, by function (wrappers in >70% of samples left out):", inside, 0.7)
    return "\n".join(lines) + "\n"


# -- one size --------------------------------------------------------------------------------


@dataclass
class SizeReport:
    size: int
    seed: str
    seed_seconds: float | None
    round_trips: dict[str, int]
    results: dict[str, dict[str, Result]] = field(default_factory=dict)  # op -> tool -> result
    memory: list[tuple[str, list[tuple[int, float, float]]]] = field(default_factory=list)
    load: list[float] = field(default_factory=list)  # 1-minute load average before each tool
    durations: dict[str, float] = field(default_factory=dict)  # seconds measured, per operation
    unloaded: dict[str, Result] = field(default_factory=dict)  # op -> wrk with 1 connection
    statements: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # lists' SQL


@dataclass
class OneCoreReport(SizeReport):
    """--one-core: also where each process ran, and CPU time per request of what was served."""

    placement: list[str] = field(default_factory=list)
    loads: dict[str, float] = field(default_factory=dict)  # tool -> load average before it
    cpu_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # op -> tool -> ms
    others: dict[str, dict[str, float]] = field(default_factory=dict)  # op -> tool -> share


def measured(
    cpu_seconds: Callable[[], float], cpus: frozenset[int] | None, run: Callable[[], Result]
) -> tuple[Result, float, float]:
    """A run; the CPU seconds per request of the server under test (`cpu_seconds`: its CPU time so
    far); and the share of its CPUs' time that other processes took meanwhile (the machine's
    other work, which pinning cannot keep out)."""
    began, server = time.monotonic(), cpu_seconds()
    busy = busy_seconds(cpus) if cpus else 0.0
    result = run()
    server = cpu_seconds() - server
    others = 0.0
    if cpus:
        elapsed = len(cpus) * (time.monotonic() - began)
        others = max(0.0, busy_seconds(cpus) - busy - server) / elapsed
    return result, server / max(result.requests, 1), others


def ceiling(
    url: str,
    env: dict[str, str],
    out: Path,
    get: Operation,
    ids_file: Path,
    options: argparse.Namespace,
) -> tuple[Result, float, float, str]:
    """GET by id through bench/ceiling.py (FastAPI, bare asyncpg, the service's one statement),
    served and driven alike: the figures, the server's CPU seconds per request, the share of its
    CPUs others took, and the CPUs it could run on."""
    from app.auth.tokens import Tokens
    from bench.ceiling import Statement

    log("ceiling: FastAPI + bare asyncpg + the service's one statement, GET by id")
    settle(url)
    # A token of the session the capture logged in: the statement checks that it is open.
    captured = Statement.captured(load_steps(out / "steps.json")["get"])
    caller, session_id = (captured.arguments[n] for n in (captured.caller, captured.session))
    token = Tokens(service_settings(url, env)).create(
        kind="staff", subject=str(caller), session=str(session_id)
    )
    extra = {"BENCH_STEPS": str(out / "steps.json")}
    cores: Cores | None = options.cores
    output = out / "ceiling-one-core.log" if cores else None
    service = Service({**env, **extra}, app="bench.ceiling:app", cores=cores, log=output)
    try:
        service.wait_ready()
        load = Load(service, get, token, ids_file, "", options.wrk_threads, options.connections)
        load = replace(load, cpus=cores.load if cores else None)
        if options.warmup > 0:
            wrk(load, options.warmup)
            service.drain(url)
        server_cpus = cores.service if cores else None
        result, cpu, others = measured(
            service.cpu_seconds, server_cpus, lambda: wrk(load, options.duration)
        )
        return result, cpu, others, affinity(service.process.pid)
    finally:
        service.stop()


def service_settings(url: str, env: dict[str, str]) -> Any:
    from app.core.config import Settings

    return Settings(
        environment="production",
        database_url=url,
        secret_key=env["SECRET_KEY"],
        phi_encryption_keys=env["PHI_ENCRYPTION_KEYS"],
        api_rate_limit=env["API_RATE_LIMIT"],
        allowed_hosts=json.loads(env["ALLOWED_HOSTS"]),
        metrics_allowed_networks=json.loads(env["METRICS_ALLOWED_NETWORKS"]),
        data_dir=Path(env["DATA_DIR"]),
        log_level="warning",  # the app in this process (capture) configures its logging
    )


def session_settings(url: str, env: dict[str, str]) -> dict[str, str]:
    """What the service sets on each connection (plan cache mode, JIT…): the floors set it too."""
    from app.db.database import server_settings

    settings: dict[str, str] = server_settings(service_settings(url, env))
    return settings


def capture_sql(url: str, env: dict[str, str], ops: list[Operation], out: Path) -> dict[str, Any]:
    from bench.capture import capture, describe

    settings = service_settings(url, env)
    # A patient with money, so that the ledger row's balance differs from its amount.
    patient = value(url, "SELECT id FROM patients WHERE wallet_balance > 0 LIMIT 1")
    salt = free_salt(url, "+6", set())
    captured = asyncio.run(
        capture(
            settings,
            ops,
            username=ADMIN[0],
            password=ADMIN[1],
            patient_id=patient,
            phone=salt + "0000",
        )
    )
    forget_created(url, salt)
    (out / "steps.json").write_text(json.dumps(captured, indent=1))
    (out / "sql.txt").write_text(describe(captured))
    return captured


def bench_size(size: int, options: argparse.Namespace) -> SizeReport:
    out = OUT_DIR / str(size)
    out.mkdir(parents=True, exist_ok=True)
    url = database_url(options.database_url, f"bench_{size}")
    # The seeded PHI opens only with the keys it was written with: reuse needs them too.
    reuse = options.reuse and (out / "secrets.json").exists()
    cores: Cores | None = options.cores
    env = service_env(url, out, reuse, one_core=cores is not None)
    seed_seconds, seed_output = prepare_database(options.database_url, size, env, reuse)
    python(
        *("-m", "app", "createsuperuser", "--username", ADMIN[0], "--password", ADMIN[1]),
        env=env,
        capture=True,  # a reused database has its admin already
    )
    settle(url)
    ids = [
        row[0] for row in rows(url, "SELECT id FROM patients ORDER BY random() LIMIT $1", ID_SAMPLE)
    ]
    ids_file = out / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    asyncio.run(_bench_ids(url, ids))

    ops = operations(options.name, options.phone, options.email)
    log("capturing the SQL of each request")
    capture_sql(url, env, ops, out)
    steps = load_steps(out / "steps.json")
    report = (SizeReport if cores is None else OneCoreReport)(
        size,
        seed_output,
        seed_seconds,
        {key: sum(3 if s[0] == "ping" else 1 for s in value) for key, value in steps.items()},
        {op.key: {} for op in ops},
        durations={op.key: options.duration for op in ops},
    )
    if isinstance(report, OneCoreReport):
        assert cores is not None
        with postgres_on(url, cores.load) as placement:
            run_tools(report, url, env, ops, steps, ids, options)
        # How PostgreSQL was pinned first, how it was given back last.
        report.placement = [*placement[:1], *report.placement, *placement[1:]]
    else:
        run_tools(report, url, env, ops, steps, ids, options)
    return report


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load_average(report: SizeReport, tool: str) -> None:
    report.load.append(os.getloadavg()[0])
    if isinstance(report, OneCoreReport):
        report.loads[tool] = report.load[-1]


def run_tools(
    report: SizeReport,
    url: str,
    env: dict[str, str],
    ops: list[Operation],
    steps: dict[str, list[list[Any]]],
    ids: list[str],
    options: argparse.Namespace,
) -> None:
    """Each chosen tool on each chosen operation, into the report."""
    size, out = report.size, OUT_DIR / str(report.size)
    ids_file = out / "ids.txt"
    one_core = report if isinstance(report, OneCoreReport) else None
    cores: Cores | None = options.cores
    chosen = [op for op in ops if op.key in options.ops]
    connections, warmup, seconds = options.connections, options.warmup, options.duration
    salts: set[str] = set()

    if "wrk" in options.tools:
        settle(url)
        _load_average(report, "service")
        output = out / "service-one-core.log" if cores else None
        service = Service(env, cores=cores, log=output, root=options.service_root)
        try:
            service.wait_ready()
            token = service.token()
            report.memory.append(("started", service.memory()))
            if one_core is not None and cores is not None:
                one_core.placement.append(
                    f"service: uvicorn, 1 worker in pid {service.process.pid}, on CPU"
                    f" {affinity(service.process.pid)}; its JSON log to {output}"
                )
                if options.service_root != ROOT:
                    one_core.placement.append(
                        f"service: the code of {options.service_root}"
                        f" ({revision(options.service_root)}), not of this checkout"
                    )
                one_core.placement.append(
                    f"wrk ({options.wrk_threads} thread, {connections} connections) and py-spy:"
                    f" CPU {cpu_list(cores.load)} (taskset)"
                )
            for op in chosen:
                log(f"{size:,}: service, {op.label}")
                salt = free_salt(url, PHONE_PREFIX["wrk"], salts)
                load = Load(service, op, token, ids_file, salt, options.wrk_threads, connections)
                load = replace(load, cpus=cores.load if cores else None)
                if warmup > 0:
                    warm = wrk(load, warmup, salt_suffix="0")
                    service.drain(url)
                    if warm.requests < connections:  # slower than a request per connection
                        report.durations[op.key] = max(seconds, options.slow_duration)
                result, cpu, others = measured(
                    service.cpu_seconds,
                    cores.service if cores else None,
                    lambda: wrk(load, report.durations[op.key]),  # noqa: B023 - called here
                )
                report.results[op.key]["service"] = result
                if one_core is not None:
                    one_core.cpu_ms.setdefault(op.key, {})["service"] = 1000 * cpu
                    one_core.others.setdefault(op.key, {})["service"] = others
                service.drain(url)
                if options.latency_duration > 0:  # service time, without queueing
                    single = replace(load, connections=1)
                    report.unloaded[op.key] = wrk(single, options.latency_duration, "2")
                    service.drain(url)
                if op.key in options.profile:
                    log(f"profile: {profile(load, seconds, out)}")
                    service.drain(url)
                report.memory.append((f"after {op.label}", service.memory()))
                if op.key == "create":
                    forget_created(url, salt)
        finally:
            service.stop()
        if output is not None and one_core is not None:
            lines = sum(1 for _ in output.open())
            one_core.placement.append(f"service: {lines:,} lines logged to {output.name}")

    session = session_settings(url, env)
    if "ceiling" in options.tools and any(op.key == "get" for op in chosen):
        get = next(op for op in chosen if op.key == "get")
        if one_core is not None:
            settle(url)
            _load_average(report, "ceiling")
        top, cpu, others, where = ceiling(url, env, out, get, ids_file, options)
        report.results["get"]["ceiling"] = top
        if one_core is not None:
            one_core.cpu_ms.setdefault("get", {})["ceiling"] = 1000 * cpu
            one_core.others.setdefault("get", {})["ceiling"] = others
            one_core.placement.append(f"ceiling: bench/ceiling.py, 1 worker, on CPU {where}")
    for op in chosen:
        if op.key.startswith("list") and one_core is None:
            report.statements[op.key] = floor.statement_times(url, steps[op.key], session)
    floor_cpus = cores.service if cores else None
    if "asyncpg" in options.tools:
        settle(url)
        _load_average(report, "asyncpg")
        if one_core is not None and cores is not None:
            one_core.placement.append(
                f"asyncpg floor: {options.processes} process{'es' * (options.processes > 1)}"
                f" on CPU {cpu_list(cores.service)} (sched_setaffinity as the pool starts it)"
            )
        for op in chosen:
            log(f"{size:,}: asyncpg floor, {op.label}")
            salt = free_salt(url, PHONE_PREFIX["asyncpg"], salts)
            time_for = report.durations[op.key]
            job = floor.Job(url, steps[op.key], ids, salt, connections, warmup, time_for, session)
            result, _, others = measured(
                _children_cpu_seconds,  # the floor's processes, once the pool has joined them
                floor_cpus,
                lambda: floor.run(job, options.processes, floor_cpus),  # noqa: B023 - called here
            )
            report.results[op.key]["asyncpg"] = result
            if one_core is not None:
                one_core.others.setdefault(op.key, {})["asyncpg"] = others
            if op.key == "create":
                forget_created(url, salt)

    if "pgbench" in options.tools:
        settle(url)
        _load_average(report, "pgbench")
        if one_core is not None and cores is not None:
            one_core.placement.append(f"pgbench: on CPU {cpu_list(cores.service)} (taskset)")
        for op in chosen:
            log(f"{size:,}: pgbench floor, {op.label}")
            salt = free_salt(url, PHONE_PREFIX["pgbench"], salts)
            report.results[op.key]["pgbench"] = pgbench.run(
                url,
                pgbench.script(steps[op.key], len(ids), salt),
                clients=connections,
                threads=options.processes,
                session=session,
                warmup=warmup,
                duration=report.durations[op.key],
                work_dir=out / "pgbench" / op.key,
                cpus=floor_cpus,
            )
            if op.key == "create":
                forget_created(url, salt)


# -- the report ------------------------------------------------------------------------------

TOOLS = (
    ("service", "service: 2 uvicorn workers"),
    ("asyncpg", "floor: bare asyncpg"),
    ("pgbench", "floor: pgbench"),
)
CELL = 31


def _cell(result: Result | None) -> str:
    if result is None:
        return f"{'-':>{CELL}}"
    few = "*" if result.requests < FEW else " "
    if not result.requests:
        return f"{0:>7,.0f}{few} {'-':>7} {'-':>7} {result.errors:>6}"
    rate = f"{result.rps:,.0f}" if result.rps >= 10 else f"{result.rps:.1f}"
    return f"{rate:>7}{few} {result.p50_ms:>7.1f} {result.p99_ms:>7.1f} {result.errors:>6}"


def _ratio(service: Result | None, base: Result | None) -> str:
    if service is None or base is None or not service.requests or not base.requests:
        return f"{'-':>6} {'-':>6} {'-':>6}"
    share = 100 * service.rps / base.rps
    rate = f"{share:.0f}%" if share >= 10 else f"{share:.1f}%"
    return f"{rate:>6} {service.p50_ms / base.p50_ms:>5.1f}x {service.p99_ms / base.p99_ms:>5.1f}x"


def render(report: SizeReport, options: argparse.Namespace) -> str:
    labels = {op.key: op.label for op in operations(options.name, options.phone, options.email)}
    rows = [(key, results) for key, results in report.results.items() if results]
    longer = [labels[key] for key, results in rows if report.durations[key] > options.duration]
    slow = ""
    if longer:
        slow = f" ({options.slow_duration:.0f} s for the slow {', '.join(longer)})"
    width = 19
    header = f"{'':<{width}} {'':>5} | " + " | ".join(f"{label:<{CELL}}" for _, label in TOOLS)
    columns = f"{'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
    lines = [
        f"## {report.size:,} patients",
        "",
        f"{report.seed}" + (f" (wall {report.seed_seconds:.0f} s)" if report.seed_seconds else ""),
        f"{options.connections} connections; each run {options.duration:.0f} s after a"
        f" {options.warmup:.0f} s warm-up{slow}; trips = database round trips per request.",
        f"Load average before each tool: {', '.join(f'{x:.1f}' for x in report.load)}"
        f" ({os.cpu_count()} cores; other work on the machine shows here).",
        "",
        "```",
        header,
        f"{'operation':<{width}} {'trips':>5} | " + " | ".join(columns for _ in TOOLS),
    ]
    for key, results in rows:
        lines.append(
            f"{labels[key]:<{width}} {report.round_trips.get(key, 0):>5} | "
            + " | ".join(_cell(results.get(tool)) for tool, _ in TOOLS)
        )
    lines += [
        "",
        f"{'service / floor':<{width}} {'':>5} | {'vs asyncpg: req/s  p50   p99':<{CELL}}"
        f" | {'vs pgbench: req/s  p50   p99':<{CELL}}",
    ]
    for key, results in rows:
        service = results.get("service")
        lines.append(
            f"{labels[key]:<{width}} {'':>5} | {'':>10}{_ratio(service, results.get('asyncpg'))}"
            f" | {'':>10}{_ratio(service, results.get('pgbench'))}"
        )
    lines.append("```")
    get = report.results.get("get", {})
    if (top := get.get("ceiling")) is not None and top.requests:
        lines += [
            "",
            "GET by id through bench/ceiling.py: FastAPI and bare asyncpg, the same SQL",
            "",
        ]
        lines += ["```", f"{'':<{width}} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"]
        lines.append(f"{'ceiling':<{width}} {_cell(top).rstrip()}")
        if (base := get.get("asyncpg")) is not None and base.rps:
            lines.append(f"ceiling / asyncpg floor: {top.rps / base.rps:.0%} of its req/s")
        if (service := get.get("service")) is not None:
            lines.append(f"service / ceiling: {service.rps / top.rps:.0%} of its req/s")
        lines.append("```")
    lines += _unloaded_lines(report, labels, width)
    if report.statements:
        lines += ["", "A list's reads, each alone on one connection (median of 20 runs, ms)", ""]
        lines += ["```"]
        for key, times in report.statements.items():
            total = sum(ms for _, ms in times)
            lines.append(f"{labels[key]}: {total:.1f} ms, count {count_share(times):.0%}")
            lines += [f"  {ms:>7.2f}  {_statement_label(sql)}" for sql, ms in times]
        lines.append("```")
    if any(r.requests < FEW for results in report.results.values() for r in results.values()):
        lines.append(f"\n\\* fewer than {FEW} requests measured: a rough figure.")
    lines += _memory_lines(report)
    return "\n".join(lines)


def _unloaded_lines(report: SizeReport, labels: dict[str, str], width: int) -> list[str]:
    if not report.unloaded:
        return []
    lines = [
        "",
        "One request at a time (wrk, 1 connection): the service's own latency, no queueing",
        "",
        "```",
        f"{'operation':<{width}} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}",
    ]
    for key, result in report.unloaded.items():
        lines.append(f"{labels[key]:<{width}} {_cell(result).rstrip()}")
    return [*lines, "```"]


def _memory_lines(report: SizeReport) -> list[str]:
    lines: list[str] = []
    if report.memory:
        pids = [pid for pid, _, _ in report.memory[-1][1]]
        names = ["master"] + [f"worker {n}" for n in range(1, len(pids))]
        if len(pids) == 1:
            names = ["uvicorn"]
        lines += [
            "",
            "uvicorn resident memory, MiB: RSS (peak since start)",
            "",
            "```",
            f"{'':<26}" + "".join(f"{name:>16}" for name in names),
        ]
        for when, processes in report.memory:
            cells = "".join(f"{f'{rss:.0f} ({peak:.0f})':>16}" for _, rss, peak in processes)
            lines.append(f"{when:<26}{cells}")
        lines.append("```")
    return lines


def _statement_label(statement: str) -> str:
    words = " ".join(statement.split())
    if words.startswith("EXPLAIN"):
        return "EXPLAIN: the planner's estimate of the matches"
    if words.startswith("SELECT count(*)"):
        return "SELECT count(*) FROM (… LIMIT n): the capped exact count"
    if "ORDER BY" in words:
        return "SELECT … ORDER BY … LIMIT: the page"
    return words[:60]


def count_share(times: list[tuple[str, float]]) -> float:
    """The share of a list's database time spent on its count (the EXPLAIN and the count)."""
    total = sum(ms for _, ms in times)
    counting = sum(ms for sql, ms in times if sql.lstrip().startswith(("EXPLAIN", "SELECT count")))
    return counting / total if total else 0.0


LIST_P50_MS = 20.0
LIST_GROWTH = 2.0
GET_SHARE = 0.60
WORKER_MIB = 150.0


def render_targets(reports: list[SizeReport], options: argparse.Namespace) -> str:
    """Issue 6's targets, met or not, from this run's figures."""
    labels = {op.key: op.label for op in operations(options.name, options.phone, options.email)}
    small, large = min(reports, key=lambda r: r.size), max(reports, key=lambda r: r.size)
    lines = [f"## Targets ({large.size:,} patients unless said)", "", "```"]

    def verdict(ok: bool) -> str:
        return "met    " if ok else "NOT met"

    for key in ("list_name", "list_phone", "list_email"):
        if (big := large.unloaded.get(key)) is None:
            continue
        text = f"{verdict(big.p50_ms <= LIST_P50_MS)} {labels[key]}: p50 {big.p50_ms:.1f} ms"
        text += f" at 1 connection (<= {LIST_P50_MS:.0f} ms)"
        if large is not small and (base := small.unloaded.get(key)) is not None:
            growth = big.p50_ms / base.p50_ms
            text += f"; {growth:.1f}x the {small.size:,} figure {base.p50_ms:.1f} ms"
            text += f" (<= {LIST_GROWTH:.0f}x: {'met' if growth <= LIST_GROWTH else 'NOT met'})"
        lines.append(text)
    for report in reports:
        results = report.results.get("get", {})
        if "service" in results and "asyncpg" in results and results["asyncpg"].rps:
            share = results["service"].rps / results["asyncpg"].rps
            text = f"{verdict(share >= GET_SHARE)} GET by id at {report.size:,}: {share:.0%} of"
            text += f" the asyncpg floor's req/s (>= {GET_SHARE:.0%})"
            if (top := results.get("ceiling")) is not None and top.rps:
                text += (
                    f"; FastAPI with bare asyncpg reaches {top.rps / results['asyncpg'].rps:.0%}"
                )
            lines.append(text)
    for key, times in large.statements.items():
        share = count_share(times)
        lines.append(
            f"{verdict(share < 0.5)} {labels[key]}: the count is {share:.0%} of the list's"
            " database time (not dominating: < 50%)"
        )
    workers = [
        (rss, peak)
        for report in reports
        for _, processes in report.memory
        for _, rss, peak in processes[1:]
    ]
    if workers:
        rss, peak = max(r for r, _ in workers), max(p for _, p in workers)
        lines.append(
            f"{verdict(rss < WORKER_MIB)} worker resident memory: at most {rss:.0f} MiB after a"
            f" run, peak {peak:.0f} MiB (< {WORKER_MIB:.0f} MiB)"
        )
    lines.append("```")
    return "\n".join(lines)


# -- one core (issue 12) ---------------------------------------------------------------------

ONE_CORE_TOOLS = (
    ("service", "service: 1 uvicorn worker"),
    ("ceiling", "ceiling: FastAPI, 1 statement"),
    ("asyncpg", "floor: bare asyncpg"),
    ("pgbench", "floor: pgbench"),
)
BASELINE_FILE = BENCH_DIR / "baseline-one-core.json"  # the code before issue 12, measured
GET_RPS = 1600.0
GET_TAIL = 3.0  # p99 at most this many p50s
GROWTH = {"list_name": 2.0, "update_wallet": 2.0, "create": 1.0}  # times the baseline's req/s


def render_one_core(report: OneCoreReport, options: argparse.Namespace) -> str:
    labels = {op.key: op.label for op in operations(options.name, options.phone, options.email)}
    rows = [(key, results) for key, results in report.results.items() if results]
    tools = [(t, label) for t, label in ONE_CORE_TOOLS if any(t in r for _, r in rows)]
    width = 19
    loads = ", ".join(f"{tool} {x:.1f}" for tool, x in report.loads.items())
    lines = [
        f"## {report.size:,} patients, one core",
        "",
        f"{report.seed}" + (f" (wall {report.seed_seconds:.0f} s)" if report.seed_seconds else ""),
        f"{options.connections} connections; each run {options.duration:.0f} s after a"
        f" {options.warmup:.0f} s warm-up; trips = database round trips per request.",
        f"Load average before each tool: {loads} ({os.cpu_count()} cores; other work on the"
        " machine shows here).",
        "",
        "Where each process ran:",
        "",
        *[f"- {note}" for note in report.placement],
        "",
        "```",
        f"{'':<{width}} {'':>5} | " + " | ".join(f"{label:<{CELL}}" for _, label in tools),
        f"{'operation':<{width}} {'trips':>5} | "
        + " | ".join(f"{'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}" for _ in tools),
    ]
    for key, results in rows:
        lines.append(
            f"{labels[key]:<{width}} {report.round_trips.get(key, 0):>5} | "
            + " | ".join(_cell(results.get(tool)) for tool, _ in tools)
        )
    bases = [tool for tool in ("asyncpg", "ceiling") if any(tool in r for _, r in rows)]
    if bases:
        lines += [
            "",
            f"{'service / tool':<{width}} {'':>5} | "
            + " | ".join(f"{f'vs {tool}: req/s  p50   p99':<{CELL}}" for tool in bases),
        ]
    for key, results in rows if bases else []:
        lines.append(
            f"{labels[key]:<{width}} {'':>5} | "
            + " | ".join(
                f"{'':>10}{_ratio(results.get('service'), results.get(tool))}" for tool in bases
            )
        )
    get = report.results.get("get", {})
    if (top := get.get("ceiling")) is not None and (service := get.get("service")) and top.rps:
        lines += [
            "",
            f"GET by id: the service {service.rps:,.0f} req/s, the ceiling (bench/ceiling.py:"
            f" FastAPI doing the service's one statement) {top.rps:,.0f} req/s; service /"
            f" ceiling {service.rps / top.rps:.0%}",
        ]
    if report.cpu_ms:
        served, shared = ("service", "ceiling"), ("service", "ceiling", "asyncpg")
        lines += [
            "",
            f"{'':<{width}} {'':>5} | {'CPU ms per request':<20}| {'its CPU busy':<20}"
            "| others on its CPU",
            f"{'':<{width}} {'':>5} | "
            + f"{'service':>8} {'ceiling':>8}   | " * 2
            + " ".join(f"{t:>8}" for t in shared),
        ]
        for key, cpu in report.cpu_ms.items():
            others = report.others.get(key, {})
            results = report.results[key]
            cells = " ".join(f"{cpu[t]:>8.2f}" if t in cpu else f"{'-':>8}" for t in served)
            busy = " ".join(
                f"{cpu[t] * results[t].rps / 1000:>8.0%}" if t in cpu else f"{'-':>8}"
                for t in served
            )
            shares = " ".join(f"{others[t]:>8.1%}" if t in others else f"{'-':>8}" for t in shared)
            lines.append(f"{labels[key]:<{width}} {'':>5} | {cells}   | {busy}   | {shares}")
    lines.append("```")
    if report.cpu_ms:
        lines += [
            "",
            "CPU ms per request: the server's user and system time in the measured run over its"
            " requests. Its CPU busy: that time over the run's (under 100%, the server waited for"
            " PostgreSQL or wrk on the other CPU). Others on its CPU: the share of that CPU's"
            " time other processes took meanwhile (the machine's other work; pinning does not"
            " keep it out).",
        ]
    lines += _unloaded_lines(report, labels, width)
    if any(r.requests < FEW for results in report.results.values() for r in results.values()):
        lines.append(f"\n\\* fewer than {FEW} requests measured: a rough figure.")
    lines += _memory_lines(report)
    return "\n".join(lines)


def load_baseline() -> dict[str, Any] | None:
    if not BASELINE_FILE.exists():
        return None
    baseline: dict[str, Any] = json.loads(BASELINE_FILE.read_text())
    return baseline


def render_targets_one_core(report: SizeReport, options: argparse.Namespace) -> str:
    """Issue 12's targets on one core, met or not, against the baseline's figures."""
    labels = {op.key: op.label for op in operations(options.name, options.phone, options.email)}
    baseline = load_baseline()
    lines = [f"## Targets (issue 12, one core; {report.size:,} patients)", ""]
    before: dict[str, float] = {}
    if baseline is None:
        lines.append(f"No baseline: {BASELINE_FILE.name} is missing.")
    else:
        before = baseline["req_s"]
        runs = baseline["runs"]
        lines.append(
            f"Baseline: the code before issue 12 ({baseline['commit']}), `{baseline['command']}`,"
            f" the mean of {len(runs)} runs ({', '.join(run['started'] for run in runs)}; load"
            " average before each tool: "
            + "; ".join(", ".join(f"{x:.1f}" for x in run["load_average"]) for run in runs)
            + "): "
            + ", ".join(f"{labels[key]} {rps:,.0f}" for key, rps in before.items())
            + " req/s."
        )
    if baseline is not None and (report.size, options.name) != (
        baseline["size"],
        baseline["name"],
    ):
        lines.append(
            f"It was measured at {baseline['size']:,} patients with ?name={baseline['name']}:"
            " the comparisons with it below are not meaningful for this run."
        )
    lines += ["", "```"]

    def verdict(ok: bool) -> str:
        return "met    " if ok else "NOT met"

    results = report.results
    get = results.get("get", {}).get("service")
    if get is not None and get.requests:
        text = f"{verdict(get.rps >= GET_RPS)} GET by id: {get.rps:,.0f} req/s (>= {GET_RPS:,.0f})"
        if (base := results["get"].get("asyncpg")) is not None and base.rps:
            text += f"; {get.rps / base.rps:.0%} of the asyncpg floor's {base.rps:,.0f}"
        if (top := results["get"].get("ceiling")) is not None and top.rps:
            text += f"; {get.rps / top.rps:.0%} of the ceiling's {top.rps:,.0f}"
        lines.append(text)
        tail = get.p99_ms / get.p50_ms
        lines.append(
            f"{verdict(tail <= GET_TAIL)} GET by id: p99 {get.p99_ms:.1f} ms is {tail:.1f}x p50"
            f" {get.p50_ms:.1f} ms (<= {GET_TAIL:.0f}x)"
        )
    for key, times in GROWTH.items():
        now = results.get(key, {}).get("service")
        if now is None or key not in before:
            continue
        growth = now.rps / before[key]
        bound = f">= {times:.0f}x" if times != 1 else ">= the baseline"
        lines.append(
            f"{verdict(growth >= times)} {labels[key]}: {now.rps:,.0f} req/s, {growth:.2f}x the"
            f" baseline {before[key]:,.0f} ({bound})"
        )
    lines.append("```")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--one-core",
        action="store_true",
        help="Issue 12's measurement: one uvicorn worker on one CPU, wrk and PostgreSQL on"
        " another, beside the ceiling and the asyncpg floor served alike (bench/README.md).",
    )
    parser.add_argument(
        "--sizes", default=None, help='e.g. "10000 1000000" (the default; --one-core: 100000)'
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER),
        help="A server where the benchmark may create databases (BENCH_DATABASE_URL).",
    )
    parser.add_argument("--connections", type=int, default=16, help="Concurrent requests.")
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds per measured run.")
    parser.add_argument("--warmup", type=float, default=3.0, help="Seconds of warm-up per run.")
    parser.add_argument(
        "--slow-duration",
        type=float,
        default=30.0,
        help="Seconds per run of an operation whose warm-up completes fewer requests than there"
        " are connections (slow lists at 1,000,000 patients, create).",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="Processes of the asyncpg floor, pgbench threads (2; --one-core: 1).",
    )
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument(
        "--latency-duration",
        type=float,
        default=5.0,
        help="Seconds of a second wrk run with 1 connection per operation (0: none).",
    )
    parser.add_argument("--name", default="ann", help="The list's ?name= (default: ann).")
    parser.add_argument("--phone", default="555", help="The list's ?phone= (default: 555).")
    parser.add_argument("--email", default="smith", help="The list's ?email= (default: smith).")
    parser.add_argument(
        "--tools", default=None, help="wrk,ceiling,asyncpg,pgbench (--one-core: no pgbench)"
    )
    parser.add_argument(
        "--ops",
        default=None,
        help="get,list_name,list_phone,list_email,create,update_wallet"
        " (--one-core: get,list_name,update_wallet,create)",
    )
    parser.add_argument("--reuse", action="store_true", help="Keep an already seeded database.")
    parser.add_argument("--profile", default="", help="Operations to profile with py-spy.")
    parser.add_argument(
        "--service-root",
        type=Path,
        default=ROOT,
        help="Serve another checkout's app (e.g. a git worktree of an older revision) against"
        " this checkout's database, migrations and floors: an A/B run in the same conditions.",
    )
    options = parser.parse_args(argv)
    options.service_root = options.service_root.resolve()
    one_core = options.one_core
    options.sizes = options.sizes or ("100000" if one_core else "10000 1000000")
    tools = "wrk,ceiling,asyncpg" if one_core else "wrk,ceiling,asyncpg,pgbench"
    options.tools = (options.tools or tools).split(",")
    ops = "get,list_name,list_phone,list_email,create,update_wallet"
    options.ops = options.ops or ("get,list_name,update_wallet,create" if one_core else ops)
    options.ops = options.ops.split(",")
    options.processes = options.processes or (1 if one_core else 2)
    options.cores = Cores.pick() if one_core else None
    options.profile = [key for key in options.profile.split(",") if key]
    options.database_url = plain(options.database_url)
    sizes = [int(size.replace("_", "")) for size in options.sizes.replace(",", " ").split()]
    if "wrk" in options.tools and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if "pgbench" in options.tools and not shutil.which("pgbench"):
        raise SystemExit("pgbench is not installed (it comes with PostgreSQL's client tools)")
    if one_core and not shutil.which("taskset"):
        raise SystemExit("taskset is not installed (it comes with util-linux)")

    OUT_DIR.mkdir(exist_ok=True)
    reports = []
    started = time.strftime("%Y-%m-%d %H:%M")
    for size in sizes:
        report = bench_size(size, options)
        reports.append(report)
        if isinstance(report, OneCoreReport):
            print("\n" + render_one_core(report, options) + "\n", flush=True)
        else:
            print("\n" + render(report, options) + "\n", flush=True)
    if one_core:
        parts = [
            f"{render_one_core(r, options)}\n\n{render_targets_one_core(r, options)}"
            for r in reports
            if isinstance(r, OneCoreReport)
        ]
        text = f"# make bench-one-core, {started}\n\n" + "\n\n".join(parts)
        results = OUT_DIR / "results-one-core.md"
        targets = "\n\n".join(render_targets_one_core(r, options) for r in reports)
    else:
        text = f"# make bench, {started}\n\n" + "\n\n".join(render(r, options) for r in reports)
        text += "\n\n" + render_targets(reports, options)
        results = OUT_DIR / "results.md"
        targets = render_targets(reports, options)
    results.write_text(text + "\n")
    results.with_suffix(".json").write_text(
        json.dumps([asdict(report) for report in reports], indent=1, default=str)
    )
    print("\n" + (text if len(reports) > 1 else targets))
    log(f"written to {results}")

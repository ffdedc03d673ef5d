"""Instructions per request: the app's own cost, counted rather than timed.

On a shared virtual machine the same code's CPU time per request moves by ±20% from one run to
the next (other tenants, caches), more than most changes to the request path. valgrind's
callgrind counts the instructions the process executes instead: the same code, data and
requests give the same count to about 0.1%, whatever else the machine is doing.

`python -m bench.instructions` calls the app in this process, as an ASGI server would (no
uvicorn, no sockets to the client; the database is the real one), against the database
`make bench-one-core` seeded (`bench_<size>`, its secrets and patient ids in
bench/out/<size>/). It runs itself again under callgrind, warms up, then counts the instructions
of `--requests` requests of each operation, 16 at a time, and prints them per request.
`--service-root DIR` counts another checkout's app (a git worktree of an older revision) on the
same database, for a before and after. Needs valgrind (Debian's package).

Where the service's cost beyond the ceiling goes ("Where the other half goes" in bench/README.md):
`--app ceiling` counts bench/ceiling.py's GET by id instead (FastAPI doing the service's one
statement, logged in through the service), and `--without PART,…` counts the service without
some of its parts, each difference being that part's cost: a middleware by its class name
(`ObservabilityMiddleware`, `HostMiddleware`, `SecurityHeadersMiddleware`, `BodyLimitMiddleware`;
`middleware` for all of them), `access-log` (the access line alone), `metrics`, or
`route-first` (GET by id's route first among the app's own, as the ceiling's: no route tried
before it, no included router around it). `--cprofile` runs the same
requests under cProfile instead of callgrind (timed, so noisy; for the shares of the steps inside
the request; the thread's CPU time, not the wall clock), and writes the profile beside the
counts.
"""

import argparse
import asyncio
import cProfile
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import MutableMapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI

from bench.common import OUT_DIR
from bench.run import ADMIN, DEFAULT_SERVER, ROOT, database_url, revision, service_env

CHILD = "BENCH_INSTRUCTIONS_CHILD"
CONCURRENCY = 16
OPERATIONS = {
    "get": ("GET", "/api/patients/{id}/", ""),
    "list_name": ("GET", "/api/patients/", f"name={quote('ann')}"),
}


async def _requests(options: argparse.Namespace) -> None:
    """In the child, under callgrind: warm up, then count `options.requests` of each operation."""
    if options.service_root != ROOT:  # nothing has imported `app` yet: take the other checkout's
        sys.path.insert(0, str(options.service_root))
    from app.main import create_app

    out = OUT_DIR / str(options.size)
    ids = (out / "ids.txt").read_text().split()
    service = create_app()
    app = service
    if options.app == "ceiling":
        from bench.ceiling import create_ceiling

        app = create_ceiling()
    else:
        _leave_out(service, options.without)

    async def call(method: str, path: str, query: str, **extra: Any) -> tuple[int, bytes]:
        headers = [(b"host", b"127.0.0.1:8000"), *extra.get("headers", [])]
        body: bytes = extra.get("body", b"")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        answer: dict[str, Any] = {"body": b""}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            else:
                answer["body"] += message.get("body", b"")

        await to(scope, receive, send)
        return answer["status"], answer["body"]

    to: Any = service
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(service.router.lifespan_context(service))
        # The ceiling's token is the service's: a session that its statement finds open.
        form = f"username={ADMIN[0]}&password={ADMIN[1]}".encode()
        status, body = await call(
            "POST",
            "/api/auth/token/",
            "",
            headers=[(b"content-type", b"application/x-www-form-urlencoded")],
            body=form,
        )
        assert status == 200, f"login: {status} {body[:200]!r}"
        bearer = [(b"authorization", b"Bearer " + json.loads(body)["access_token"].encode())]
        if app is not service:
            await stack.enter_async_context(app.router.lifespan_context(app))
            to = app

        async def run(key: str) -> None:
            method, path, query = OPERATIONS[key]

            async def one_at_a_time(first: int) -> None:
                for n in range(first, options.requests, CONCURRENCY):
                    status, body = await call(
                        method, path.format(id=ids[n % len(ids)]), query, headers=bearer
                    )
                    assert status == 200, f"{key}: {status} {body[:200]!r}"

            await asyncio.gather(*(one_at_a_time(k) for k in range(CONCURRENCY)))

        for key in options.ops:
            await run(key)  # warm-up: statements prepared, caches filled
            if options.cprofile:
                # The thread's CPU time: waiting for PostgreSQL, or for a core on a busy
                # machine, is nobody's cost here.
                profiler = cProfile.Profile(time.thread_time)
                profiler.enable()
                await run(key)
                profiler.disable()
                profiler.dump_stats(out / f"cprofile-{_variant(options)}-{key}.pstats")
            else:
                _instrument("on")
                await run(key)
                _instrument("off")
            print(f"counted {key}", flush=True)


def _leave_out(app: FastAPI, parts: list[str]) -> None:
    """The service without `parts` (see the module's doc), before it first answers."""
    from app.core.logging import ACCESS_LOGGER

    unknown = set(parts) - {"middleware", "access-log", "metrics", "route-first"}
    unknown -= {entry.cls.__name__ for entry in app.user_middleware}  # type: ignore[attr-defined]
    if unknown:
        raise SystemExit(f"--without: no part named {', '.join(sorted(unknown))}")
    app.user_middleware = [
        entry
        for entry in app.user_middleware
        if "middleware" not in parts and entry.cls.__name__ not in parts  # type: ignore[attr-defined]
    ]
    for entry in app.user_middleware:
        if "metrics" in parts and entry.cls.__name__ == "ObservabilityMiddleware":  # type: ignore[attr-defined]
            entry.kwargs["metrics"] = False
    if "access-log" in parts:
        logging.getLogger(ACCESS_LOGGER).disabled = True
    if "route-first" in parts:
        # FastAPI keeps each included router as one entry: GET by id's route is found in the
        # patients' router, then put first among the app's own routes, as the ceiling's is.
        routers = [getattr(entry, "original_router", None) for entry in app.router.routes]
        route = next(
            route
            for router in routers
            if router is not None
            for route in router.routes
            if getattr(route, "path", "") == "/api/patients/{patient_id}/"
            and "GET" in getattr(route, "methods", ())
        )
        app.router.routes.insert(0, route)
        app.router._mark_routes_changed()


def _instrument(state: str) -> None:
    subprocess.run(  # noqa: S603
        ["callgrind_control", "-i", state, str(os.getpid())],  # noqa: S607
        capture_output=True,
        check=True,
    )


def _variant(options: argparse.Namespace) -> str:
    """What is counted, for the names of the files written: `service-without-metrics`."""
    return str(options.app) + "".join(f"-without-{part}" for part in options.without)


def _count(options: argparse.Namespace, key: str, env: dict[str, str]) -> int:
    """Instructions of `options.requests` requests of one operation, in a child under callgrind."""
    out = OUT_DIR / str(options.size) / f"callgrind-{_variant(options)}-{key}.out"
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
    command += [f"--callgrind-out-file={out}", sys.executable, "-m", "bench.instructions"]
    command += ["--size", str(options.size), "--requests", str(options.requests), "--ops", key]
    command += ["--service-root", str(options.service_root), "--app", options.app]
    if options.without:
        command += ["--without", ",".join(options.without)]
    if options.cprofile:
        command = [sys.executable, *command[command.index("-m") :], "--cprofile"]
    done = subprocess.run(  # noqa: S603
        command, cwd=ROOT, env={**env, CHILD: "1"}, capture_output=True, text=True, check=False
    )
    if options.cprofile and done.returncode == 0 and f"counted {key}" in done.stdout:
        return 0
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None or f"counted {key}" not in done.stdout:
        raise RuntimeError(f"{key}: the counting run failed:\n{done.stderr[-3000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--size", type=int, default=100_000, help="The seeded bench_<size>.")
    parser.add_argument("--requests", type=int, default=400, help="Counted per operation.")
    parser.add_argument("--ops", default="get,list_name", help="get,list_name")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER),
        help="The server of bench_<size> (BENCH_DATABASE_URL).",
    )
    parser.add_argument(
        "--service-root", type=Path, default=ROOT, help="Count another checkout's app."
    )
    parser.add_argument(
        "--app",
        choices=("service", "ceiling"),
        default="service",
        help="ceiling: bench/ceiling.py's GET by id (the service's one statement in FastAPI).",
    )
    parser.add_argument(
        "--without",
        default="",
        help="Parts of the service left out: middleware class names, middleware (all of them),"
        " access-log, metrics, route-first.",
    )
    parser.add_argument(
        "--cprofile", action="store_true", help="Profile with cProfile instead of counting."
    )
    options = parser.parse_args(argv)
    options.ops = options.ops.split(",")
    options.without = [part for part in options.without.split(",") if part]
    if options.app == "ceiling" and options.ops != ["get"]:
        parser.error("the ceiling answers GET by id only: --ops get")
    options.service_root = options.service_root.resolve()
    if os.environ.get(CHILD):
        asyncio.run(_requests(options))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is needed: apt-get install valgrind")
    out = OUT_DIR / str(options.size)
    if not (out / "secrets.json").exists() or not (out / "ids.txt").exists():
        sys.exit(f"no {out}/secrets.json or ids.txt: run `make bench-one-core` first")
    url = database_url(options.database_url, f"bench_{options.size}")
    env = service_env(url, out, reuse=True, one_core=True)
    root = options.service_root
    env["BENCH_STEPS"] = str(out / "steps.json")  # the ceiling's statement, as captured
    what = "bench/ceiling.py" if options.app == "ceiling" else f"app: {root} ({revision(root)})"
    if options.without:
        what += f", without {', '.join(options.without)}"
    print(f"{what}; {options.requests} requests of each, 16 at a time")
    for key in options.ops:
        instructions = _count(options, key, env)
        if options.cprofile:
            print(f"{key:<12} profiled: {out}/cprofile-{_variant(options)}-{key}.pstats")
            continue
        print(f"{key:<12} {instructions / options.requests:>12,.0f} instructions per request")


if __name__ == "__main__":
    main()

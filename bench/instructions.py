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
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
    app = create_app()

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

        await app(scope, receive, send)
        return answer["status"], answer["body"]

    async with app.router.lifespan_context(app):
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
            _instrument("on")
            await run(key)
            _instrument("off")
            print(f"counted {key}", flush=True)


def _instrument(state: str) -> None:
    subprocess.run(  # noqa: S603
        ["callgrind_control", "-i", state, str(os.getpid())],  # noqa: S607
        capture_output=True,
        check=True,
    )


def _count(options: argparse.Namespace, key: str, env: dict[str, str]) -> int:
    """Instructions of `options.requests` requests of one operation, in a child under callgrind."""
    out = OUT_DIR / str(options.size) / f"callgrind-{key}.out"
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
    command += [f"--callgrind-out-file={out}", sys.executable, "-m", "bench.instructions"]
    command += ["--size", str(options.size), "--requests", str(options.requests), "--ops", key]
    command += ["--service-root", str(options.service_root)]
    done = subprocess.run(  # noqa: S603
        command, cwd=ROOT, env={**env, CHILD: "1"}, capture_output=True, text=True, check=False
    )
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
    options = parser.parse_args(argv)
    options.ops = options.ops.split(",")
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
    print(f"app: {root} ({revision(root)}); {options.requests} requests of each, 16 at a time")
    for key in options.ops:
        instructions = _count(options, key, env)
        print(f"{key:<12} {instructions / options.requests:>12,.0f} instructions per request")


if __name__ == "__main__":
    main()

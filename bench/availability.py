"""`python -m bench.availability`: a therapist's free slots at 1,000,000 appointments.

Makes a database `bench_availability` on BENCH_DATABASE_URL's server (unless `--reuse` finds it
seeded with as many appointments), migrates it and seeds it in SQL (generate_series, no round
trip per row): `--therapists` therapists working Monday to Friday 08:00-18:00 on the clinic's
clock, a few days of time off each, `--patients` patients (`python -m app seed`), and
`--appointments` appointments spread evenly over the therapists, from about 14 months ago to
14 months ahead, six a day, one in ten cancelled. Then it runs the service in this process
(httpx's ASGI transport, as the tests do) and asks `GET /api/therapists/{id}/availability/` for
a one-week window of a random therapist, a random week ahead, `--requests` times in a row, and
prints p50/p95/p99 latency in ms, with the plan of the appointments' statement
(EXPLAIN ANALYZE). bench/README.md ("Free slots at 1,000,000 appointments") has the figures.
"""

import argparse
import asyncio
import base64
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from app.auth.commands import create_staff
from app.core.config import Settings
from app.main import create_app
from app.therapists.repository import _TAKEN
from bench.common import BENCH_DIR

ROOT = BENCH_DIR.parent
DEFAULT_SERVER = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ADMIN = ("bench-admin", "bench-admin-password-1")
PER_DAY = 6  # appointments a therapist has a day: 07:00 to 16:00 UTC, 50 minutes every 90
TARGET_P50_MS = 20.0


def log(message: str) -> None:
    print(f"[availability {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _fetchval(url: str, statement: str, *args: object) -> object:
    connection = await asyncpg.connect(plain(url))
    try:
        return await connection.fetchval(statement, *args)
    finally:
        await connection.close()


async def _seeded(server: str, database: str, url: str, appointments: int) -> bool:
    if not await _fetchval(server, "SELECT 1 FROM pg_database WHERE datname = $1", database):
        return False
    try:
        count = await _fetchval(url, "SELECT count(*) FROM appointments")
    except asyncpg.PostgresError:
        return False
    return count == appointments


def _app(url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "ENVIRONMENT": "development"}
    subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


# Therapists, their week, a fortnight of leave each in the coming year, and the appointments:
# therapist t's k-th is on day k / 6 from the start, at 07:00 UTC + 90 minutes * (k % 6); its
# patient is (t * 6 + k % 6 + day * 1200) modulo the patients, so that no patient has two at
# once (the exclusion constraint no_overlap_for_patient) as long as there are 1,200 of them.
SEED = [
    """
    INSERT INTO staff (username, role, password_hash, display_name)
    SELECT 'bench-therapist-' || n, 'therapist', '!', 'Therapist ' || n
    FROM generate_series(1, $1::int) AS n
    """,
    """
    INSERT INTO therapist_hours (therapist_id, weekday, starts, ends)
    SELECT s.id, d, time '08:00', time '18:00'
    FROM staff AS s CROSS JOIN generate_series(1, 5) AS d
    WHERE s.role = 'therapist'
    """,
    """
    INSERT INTO therapist_time_off (therapist_id, starts_at, ends_at, reason)
    SELECT s.id, date_trunc('day', now()) + (s.id % 300) * interval '1 day',
           date_trunc('day', now()) + (s.id % 300 + 14) * interval '1 day', 'Leave'
    FROM staff AS s WHERE s.role = 'therapist'
    """,
    """
    WITH therapists AS (
        SELECT id, row_number() OVER (ORDER BY id) - 1 AS t FROM staff WHERE role = 'therapist'
    ), patients AS (
        SELECT array_agg(id ORDER BY id) AS ids, count(*) AS n FROM patients
    ), origin AS (
        SELECT date_trunc('day', now()) - ($1::int / $2::int / 6 / 2) * interval '1 day' AS day
    )
    INSERT INTO appointments (patient_id, therapist_id, starts_at, ends_at, kind, status,
                              created_by)
    SELECT p.ids[1 + (th.t * 6 + k % 6 + (k / 6) * 1200) % p.n],
           th.id,
           o.day + (k / 6) * interval '1 day' + interval '7 hours' + (k % 6) * interval '90 min',
           o.day + (k / 6) * interval '1 day' + interval '7 hours 50 min'
               + (k % 6) * interval '90 min',
           CASE WHEN k % 2 = 0 THEN 'in_person' ELSE 'video' END,
           CASE WHEN (k * 7919 + th.t) % 10 = 0 THEN 'cancelled'
                WHEN o.day + (k / 6) * interval '1 day' < now() THEN 'fulfilled'
                ELSE 'booked' END,
           'bench'
    FROM therapists AS th CROSS JOIN patients AS p CROSS JOIN origin AS o
    CROSS JOIN generate_series(0, $1::int / $2::int - 1) AS k
    """,
]


async def _seed(url: str, therapists: int, appointments: int) -> None:
    connection = await asyncpg.connect(plain(url), server_settings={"statement_timeout": "0"})
    try:
        patients = await connection.fetchval("SELECT count(*) FROM patients")
        if patients < 6 * therapists:
            raise SystemExit(f"{patients} patients: at least {6 * therapists} are needed")
        async with connection.transaction():
            await connection.execute(SEED[0], therapists)
            await connection.execute(SEED[1])
            await connection.execute(SEED[2])
            await connection.execute(SEED[3], appointments, therapists)
        await connection.execute("VACUUM (ANALYZE)")
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


def prepare(args: argparse.Namespace) -> str:
    url = plain(make_url(args.server).set(database=args.database).render_as_string(False))
    if args.reuse and asyncio.run(_seeded(args.server, args.database, url, args.appointments)):
        log(f"reusing {args.database}")
        return url
    log(f"creating {args.database}")
    quoted = f'"{args.database}"'
    asyncio.run(_fetchval(args.server, f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    asyncio.run(_fetchval(args.server, f"CREATE DATABASE {quoted}"))
    _app(url, "migrate")
    started = time.perf_counter()
    _app(url, "seed", "--count", str(args.patients))
    log(f"{args.patients:,} patients in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    asyncio.run(_seed(url, args.therapists, args.appointments))
    log(
        f"{args.therapists} therapists and {args.appointments:,} appointments "
        f"in {time.perf_counter() - started:.0f} s (with VACUUM ANALYZE)"
    )
    return url


def _settings(url: str, data_dir: Path) -> Settings:
    return Settings(
        environment="development",
        database_url=url,
        data_dir=data_dir,
        secret_key=SecretStr(secrets.token_urlsafe(48)),
        phi_encryption_keys=SecretStr(
            "bench:" + base64.b64encode(secrets.token_bytes(32)).decode()
        ),
        api_rate_limit="1000000000/minute",
        log_level="warning",
    )


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _explain(url: str, therapist_id: int, start: datetime) -> str:
    connection = await asyncpg.connect(
        url, server_settings={"plan_cache_mode": "force_custom_plan"}
    )
    try:
        params = {"therapist_id": therapist_id, "start": start, "end": start + timedelta(days=7)}
        rows = await connection.fetch(
            "EXPLAIN (ANALYZE, BUFFERS) " + _TAKEN.sql, *_TAKEN.arguments(params)
        )
    finally:
        await connection.close()
    return "\n".join(row[0] for row in rows)


async def measure(url: str, args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-availability-") as data_dir:
        settings = _settings(url, Path(data_dir))
        connection = await asyncpg.connect(url)
        try:
            await connection.execute("DELETE FROM staff WHERE username = $1", ADMIN[0])
            ids = [
                row[0]
                for row in await connection.fetch(
                    "SELECT id FROM staff WHERE role = 'therapist' ORDER BY id"
                )
            ]
        finally:
            await connection.close()
        await create_staff(settings, username=ADMIN[0], password=ADMIN[1], role="admin")
        app = create_app(settings)
        rng = random.Random(args.seed)  # noqa: S311 - choosing requests
        today = datetime.now(settings.clinic_zone).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1"
            ) as client:
                login = await client.post(
                    "/api/auth/token/", data={"username": ADMIN[0], "password": ADMIN[1]}
                )
                login.raise_for_status()
                client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
                timings: list[float] = []
                slots: list[int] = []
                for number in range(args.warmup + args.requests):
                    start = today + timedelta(days=rng.randint(1, args.days_ahead))
                    params = {
                        "from": start.isoformat(),
                        "to": (start + timedelta(days=7)).isoformat(),
                        "duration": "50",
                    }
                    path = f"/api/therapists/{rng.choice(ids)}/availability/"
                    began = time.perf_counter()
                    response = await client.get(path, params=params)
                    elapsed = (time.perf_counter() - began) * 1000
                    if response.status_code != 200:
                        raise SystemExit(f"{response.status_code} {response.text[:200]}")
                    if number >= args.warmup:
                        timings.append(elapsed)
                        slots.append(len(response.json()["slots"]))
        plan = await _explain(url, rng.choice(ids), today + timedelta(days=30))
    return {"timings": timings, "slots": slots, "plan": plan, "therapists": len(ids)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.availability",
        description="Seed therapists and appointments, then time GET "
        "/api/therapists/{id}/availability/ for one-week windows and print p50/p95/p99.",
    )
    parser.add_argument("--server", default=DEFAULT_SERVER, help="Default: %(default)s.")
    parser.add_argument("--database", default="bench_availability", help="Default: %(default)s.")
    parser.add_argument("--therapists", type=int, default=200, help="Default: %(default)s.")
    parser.add_argument("--appointments", type=int, default=1_000_000, help="Default: %(default)s.")
    parser.add_argument(
        "--patients", type=int, default=2_000, help="At least 6 per therapist (%(default)s)."
    )
    parser.add_argument("--requests", type=int, default=1_000, help="Measured (%(default)s).")
    parser.add_argument("--warmup", type=int, default=100, help="Not counted (%(default)s).")
    parser.add_argument(
        "--days-ahead", type=int, default=300, help="Windows start 1..N days ahead (%(default)s)."
    )
    parser.add_argument("--seed", type=int, default=14, help="Of the random choices.")
    parser.add_argument(
        "--reuse", action="store_true", help="Keep the database if it holds as many appointments."
    )
    args = parser.parse_args(argv)
    if args.appointments % args.therapists:
        parser.error("--appointments must be a multiple of --therapists")
    url = prepare(args)
    result = asyncio.run(measure(url, args))
    timings: list[float] = result["timings"]  # type: ignore[assignment]
    slots: list[int] = result["slots"]  # type: ignore[assignment]
    p50 = statistics.median(timings)
    print(
        f"GET /api/therapists/{{id}}/availability/ (one week, duration 50, step 15), "
        f"{len(timings)} requests one at a time, {result['therapists']} therapists, "
        f"{args.appointments:,} appointments"
    )
    print(
        f"p50 {p50:.2f} ms, p95 {_percentile(timings, 0.95):.2f} ms, "
        f"p99 {_percentile(timings, 0.99):.2f} ms, max {max(timings):.2f} ms; "
        f"{statistics.mean(slots):.0f} slots a week on average"
    )
    print(f"target p50 <= {TARGET_P50_MS:.0f} ms: {'met' if p50 <= TARGET_P50_MS else 'MISSED'}")
    print("\nThe appointments' statement, EXPLAIN (ANALYZE, BUFFERS):\n" + str(result["plan"]))


if __name__ == "__main__":
    main()

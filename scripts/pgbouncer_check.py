"""The service through PgBouncer in transaction mode: what works, what breaks, what must be set.

Makes its own PostgreSQL (a temporary folder, a free port), migrates it, and puts PgBouncer
(`pool_mode = transaction`, 4 server connections) in front of it, then tries, in turn:

1. asyncpg with the service's session settings (`app.db.database.server_settings`), as the
   service connects: PgBouncer refuses startup parameters it does not know;
2. the same with those parameters in `ignore_startup_parameters`: it connects, and the
   settings are silently not applied;
3. the service itself served through it (uvicorn, 2 workers), under concurrent reads and
   writes: asyncpg's named prepared statements meet other clients' server connections;
4. asyncpg with `statement_cache_size=0` and the settings made the role's defaults on the
   server (`ALTER ROLE … SET`), the same load of statements: what the service would need.

It prints what each step saw and stops everything it started. PgBouncer before 1.21 has no
`max_prepared_statements`; its version is printed.

    python -m scripts.pgbouncer_check
"""

import asyncio
import base64
import collections
import contextlib
import os
import re
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app.core.config import Settings
from app.db.database import server_settings
from scripts.multi_instance import base_environment
from scripts.pgcluster import Cluster, free_port
from scripts.processes import run_command, served, stop_server

ROOT = Path(__file__).resolve().parent.parent
ADMIN = ("bouncer-admin", "Walnut-Ember-93")
DATABASE = "therapy"
PGBOUNCER = "/usr/sbin/pgbouncer"
SERVER_CONNECTIONS = 4
CLIENTS = 16
# Exception type names the service logs (never their messages): app/core/logging.py.
ERROR_NAME = re.compile(r"\b([A-Z][A-Za-z]+(?:Error|Exception))\b")
STATEMENT_NAME = re.compile(r"__asyncpg_stmt_[0-9a-f]+__")
SINCE = datetime(2026, 1, 1, tzinfo=UTC)


def bouncer_config(root: Path, port: int, server_port: int, ignore: list[str]) -> Path:
    (root / "userlist.txt").write_text('"postgres" ""\n')
    config = root / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"{DATABASE} = host=127.0.0.1 port={server_port} dbname={DATABASE}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {root / 'userlist.txt'}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {SERVER_CONNECTIONS}\nmax_client_conn = 200\n"
        f"ignore_startup_parameters = {','.join(ignore)}\n"
        f"logfile = {root / 'pgbouncer.log'}\n"
    )
    return config


@contextlib.contextmanager
def bouncer(cluster: Cluster, ignore: list[str]) -> Iterator[str]:
    """PgBouncer in front of `cluster`, run as the cluster's user; its URL."""
    port = free_port()
    root = Path(tempfile.mkdtemp(prefix="therapy-bouncer-"))
    config = bouncer_config(root, port, cluster.port, ignore)
    kwargs: dict[str, Any] = {}
    if cluster.user is not None:
        for path in (root, *root.iterdir()):
            os.chown(path, cluster.user.pw_uid, cluster.user.pw_gid)
        kwargs = {"user": cluster.user.pw_uid, "group": cluster.user.pw_gid, "extra_groups": []}
    process = subprocess.Popen(  # noqa: S603
        [PGBOUNCER, str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # it logs to its logfile too
        start_new_session=True,
        **kwargs,
    )
    try:
        time.sleep(1)
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited; see {root / 'pgbouncer.log'}")
        yield f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"
    finally:
        stop_server(process)
        subprocess.run(["rm", "-rf", str(root)], check=False)  # noqa: S603, S607


async def connect_as_service(url: str, settings: Settings) -> str:
    try:
        connection = await asyncpg.connect(url, server_settings=server_settings(settings))
    except (asyncpg.PostgresError, OSError) as error:
        return f"refused: {type(error).__name__}: {error}"
    try:
        shown = {
            name: await connection.fetchval(f"SHOW {name}")
            for name in ("statement_timeout", "plan_cache_mode", "jit")
        }
    finally:
        await connection.close()
    return f"connected; the server shows {shown} (the service asks {server_settings(settings)})"


async def statements_under_load(url: str, cache: int, seconds: float = 10) -> str:
    """CLIENTS connections, each running a few parameterised statements over and over."""
    statements = [
        "SELECT count(*) FROM patients WHERE created_at > $1::timestamptz - interval '1 day'",
        "SELECT id FROM staff WHERE username = $1",
        "SELECT $1::int + 1",
    ]
    tally: collections.Counter[str] = collections.Counter()

    async def client() -> None:
        connection = await asyncpg.connect(url, statement_cache_size=cache)
        try:
            deadline = time.monotonic() + seconds
            turn = 0
            while time.monotonic() < deadline:
                statement = statements[turn % len(statements)]
                argument: Any = (SINCE, "nobody", 1)[turn % len(statements)]
                turn += 1
                try:
                    await connection.fetch(statement, argument)
                    tally["ok"] += 1
                except Exception as error:  # a row decoded with another statement's
                    # description is a BufferError, not a PostgresError: counted all the same
                    message = STATEMENT_NAME.sub("__asyncpg_stmt_N__", str(error).splitlines()[0])
                    tally[f"{type(error).__name__}: {message}"] += 1
                    if not isinstance(error, asyncpg.PostgresError):
                        break  # the connection's protocol state is lost
        finally:
            await connection.close()

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return ", ".join(f"{name}: {count:,}" for name, count in tally.most_common())


async def service_load(base: str, seconds: float = 10) -> tuple[collections.Counter[str], str]:
    """Logins, lists, creates and wallet changes from CLIENTS concurrent clients."""
    tally: collections.Counter[str] = collections.Counter()
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for _ in range(10):  # a login is several statements: each may meet another server
            answer = await http.post(
                "/api/auth/token/", data={"username": ADMIN[0], "password": ADMIN[1]}
            )
            tally[f"login {answer.status_code}"] += 1
            if answer.status_code == 200:
                break
        else:
            return tally, "no login succeeded"
        http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        created = await http.post("/api/patients/", json=_patient())
        tally[f"create {created.status_code}"] += 1
        if created.status_code != 201:
            return tally, "the patient to read and change was not created"
        patient = created.json()["id"]

        async def client() -> None:
            deadline = time.monotonic() + seconds
            turn = 0
            while time.monotonic() < deadline:
                turn += 1
                if turn % 3 == 0:
                    answer = await http.post(
                        f"/api/patients/{patient}/update_wallet/", json={"amount": "1.00"}
                    )
                    tally[f"update_wallet {answer.status_code}"] += 1
                elif turn % 3 == 1:
                    answer = await http.get("/api/patients/", params={"name": "bouncer"})
                    tally[f"list {answer.status_code}"] += 1
                else:
                    answer = await http.get(f"/api/patients/{patient}/")
                    tally[f"get {answer.status_code}"] += 1

        await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return tally, "logged in, created a patient"


def _patient() -> dict[str, Any]:
    return {
        "password": "bouncer-password-1",
        "first_name": "Bouncer",
        "last_name": "Check",
        "allergies_and_medication": "",
        "phone_no": f"+1555{secrets.randbelow(10**8):08d}",
        "date_of_birth": "1985-06-15",
        "sex": "O",
    }


def main() -> None:
    version = subprocess.run(  # noqa: S603
        [PGBOUNCER, "--version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    print(
        f"pgbouncer-check: {version}, pool_mode = transaction, {SERVER_CONNECTIONS} server "
        f"connections, {CLIENTS} clients"
    )
    ignored = ["statement_timeout", "plan_cache_mode", "jit"]
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bouncer-")))
        cluster = stack.enter_context(Cluster("therapy-bouncer-pg-"))
        cluster.start()
        cluster.create_database(DATABASE)
        env = {
            **base_environment(),
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PHI_ENCRYPTION_KEYS": "bouncer1:" + base64.b64encode(os.urandom(32)).decode(),
            "DATABASE_URL": cluster.url(DATABASE),
            "DATA_DIR": str(workdir / "data"),
            "API_RATE_LIMIT": "1000000000/minute",
            "LOG_FORMAT": "console",
        }
        run_command(["migrate"], env, ROOT)
        run_command(["createsuperuser", "--username", ADMIN[0], "--password", ADMIN[1]], env, ROOT)
        settings = Settings(
            secret_key=env["SECRET_KEY"], phi_encryption_keys=env["PHI_ENCRYPTION_KEYS"]
        )

        with bouncer(cluster, ignore=[]) as url:
            print(f"1. as the service connects: {asyncio.run(connect_as_service(url, settings))}")
        with bouncer(cluster, ignore=ignored) as url:
            print(
                f"2. with ignore_startup_parameters = {','.join(ignored)}: "
                f"{asyncio.run(connect_as_service(url, settings))}"
            )
            log = workdir / "service.log"
            with served(
                {**env, "DATABASE_URL": url}, ROOT, free_port(), log, workers=2, ready="/healthz"
            ) as base:
                tally, note = asyncio.run(service_load(base))
            errors = collections.Counter(ERROR_NAME.findall(log.read_text(errors="replace")))
            answers = ", ".join(f"{name}: {count:,}" for name, count in sorted(tally.items()))
            print(
                f"3. the service through it, 10 s: {note}; answers: {answers or 'none'}; "
                f"exception types in its log: {dict(errors) or 'none'}"
            )
            print(
                "   asyncpg's statement cache (500, as the service), 10 s: "
                f"{asyncio.run(statements_under_load(url, cache=500))}"
            )
        values = server_settings(settings)
        setting_sql = "; ".join(
            f"ALTER ROLE postgres IN DATABASE {DATABASE} SET {name} = '{values[name]}'"
            for name in ignored
        )
        asyncio.run(_execute(cluster.url(DATABASE), setting_sql))
        with bouncer(cluster, ignore=ignored) as url:
            print(f"4. after {setting_sql}: {asyncio.run(connect_as_service(url, settings))}")
            print(
                "   with statement_cache_size=0, 10 s: "
                f"{asyncio.run(statements_under_load(url, cache=0))}"
            )


async def _execute(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


if __name__ == "__main__":
    main()

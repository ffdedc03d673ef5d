"""The embedded default (app/db/embedded.py): a real PostgreSQL with the contrib modules the
migrations need, started in DATA_DIR when DATABASE_URL is unset."""

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.db import embedded
from app.db.embedded import EMBEDDED_FOLDER, embedded_database_url


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # As root the server runs as a user of its own, which must reach the folder.
    folder = Path(tempfile.mkdtemp(prefix="therapy-embedded-"))
    folder.chmod(0o755)
    yield folder
    for pgdata, server in list(embedded._servers.items()):
        if pgdata.is_relative_to(folder):
            server.cleanup()
            del embedded._servers[pgdata]
    shutil.rmtree(folder, ignore_errors=True)


async def _facts(url: str) -> tuple[int, set[str]]:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        version = await connection.fetchval("SHOW server_version_num")
        rows = await connection.fetch("SELECT name FROM pg_available_extensions")
    finally:
        await connection.close()
    return int(version), {row["name"] for row in rows}


def test_the_embedded_server_is_postgresql_18_with_contrib(data_dir):
    url = embedded_database_url(data_dir)
    assert (data_dir / EMBEDDED_FOLDER).is_dir()
    version, extensions = asyncio.run(_facts(url))
    assert version >= 180000
    assert {"pg_trgm", "btree_gist"} <= extensions


def test_a_second_database_on_the_same_server(data_dir):
    first = make_url(embedded_database_url(data_dir))
    second = make_url(embedded_database_url(data_dir, "other"))
    assert (first.database, second.database) == ("therapy", "other")
    assert first.set(database="other") == second  # one server, two databases
    with pytest.raises(ValueError, match="identifier"):
        embedded_database_url(data_dir, "bad; name")

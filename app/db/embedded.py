"""An embedded PostgreSQL for a machine with nothing installed: used when DATABASE_URL is unset."""

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

EMBEDDED_DATABASE = "therapy"

# Kept for the life of the process: the server stops when the last process using it exits.
_servers: dict[Path, Any] = {}


def embedded_database_url(data_dir: Path, database: str = EMBEDDED_DATABASE) -> str:
    try:
        import pgserver
    except ImportError as error:
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed; "
            "install the 'embedded' extra or set DATABASE_URL."
        ) from error
    pgdata = (data_dir / "postgres").resolve()
    server = _servers.get(pgdata)
    if server is None:
        pgdata.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        _servers[pgdata] = server
        logger.info("embedded PostgreSQL running with data in %s", pgdata)
    if not database.isidentifier():
        raise ValueError("embedded database name must be a plain identifier")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    uri: str = server.get_uri(database)
    return uri.replace("postgresql://", "postgresql+asyncpg://", 1)

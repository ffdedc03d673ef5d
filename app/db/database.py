"""The service's PostgreSQL: one asyncpg pool per process, made in the app's lifespan."""

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from asyncpg.connection import LoggedQuery

from app.core.config import Settings
from app.db.embedded import embedded_database_url
from app.db.query import Query, R

QueryLogger = Callable[[LoggedQuery], None]


def server_settings(settings: Settings) -> dict[str, str]:
    """The session settings of every connection (the benchmark's floors use them too)."""
    return {
        "application_name": "therapyconnect-patients",
        "statement_timeout": str(settings.db_statement_timeout_ms),
        # Statements are prepared, and a generic plan cannot see a search's pattern: it picked
        # a 125 ms plan for a 2 ms page at a million patients.
        "plan_cache_mode": "force_custom_plan",
        # JIT compiling costs more than it saves on queries this short.
        "jit": "off",
    }


def plain_url(url: str) -> str:
    """asyncpg's DSN: the URL without SQLAlchemy's `+asyncpg` driver name."""
    scheme, separator, rest = url.partition("://")
    return f"{scheme.partition('+')[0]}{separator}{rest}"


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _codecs(connection: asyncpg.Connection) -> None:
    # JSON columns in and out as Python values, as SQLAlchemy's JSONB type would give them
    # (orjson: a list's tags and sessions took a tenth of its CPU through the json module).
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=_json_text, decoder=orjson.loads, schema="pg_catalog"
        )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset on release, which asyncpg does with a query (a round trip per request:
    RESET ALL, UNLISTEN, advisory unlocks). Nothing here changes a session's state, and an open
    transaction is rolled back by asyncpg before this runs."""


class Database:
    """A pool of connections with the service's session settings and codecs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.acquire_timeout = settings.db_pool_timeout
        self._query_loggers: list[QueryLogger] = []
        self._pool: asyncpg.Pool | None = None
        self._releasing: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(cls, settings: Settings, url: str) -> "Database":
        """A pool that connects on demand: the service starts, and answers 503, while
        PostgreSQL is down."""
        database = cls(settings)
        database._pool = await asyncpg.create_pool(
            plain_url(url),
            min_size=0,
            max_size=settings.db_pool_size + settings.db_max_overflow,
            timeout=settings.db_connect_timeout,
            # No command_timeout: statement_timeout bounds a statement on the server, and an
            # asyncio timeout around every statement cost 4% of a read's CPU.
            server_settings=server_settings(settings),
            statement_cache_size=500,  # the list's filter combinations each have a statement
            init=database._init,
            reset=_keep_session,
        )
        return database

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "opened with Database.open"
        return self._pool

    async def close(self) -> None:
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)
        await self.pool.close()

    def release_soon(self, connection: asyncpg.Connection) -> None:
        """Give a connection back without waiting for it: asyncpg's release awaits a shielded
        task, which suspends the releasing request's whole stack of coroutines (about 35 µs of
        CPU at a request's depth); the task alone, at the top of the loop, costs a few."""
        task = asyncio.get_running_loop().create_task(self.pool.release(connection))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def log_queries(self, logger: QueryLogger) -> None:
        """Every statement from now on, with its arguments, to `logger`: the benchmark's capture
        of the service's SQL, and the tests' count of round trips. Open connections are replaced
        by ones that log."""
        self._query_loggers.append(logger)
        await self.pool.expire_connections()

    @asynccontextmanager
    async def logging_queries(self, logger: QueryLogger) -> AsyncIterator[None]:
        """`log_queries` until the block ends."""
        await self.log_queries(logger)
        try:
            yield
        finally:
            self._query_loggers.remove(logger)
            await self.pool.expire_connections()

    async def _init(self, connection: asyncpg.Connection) -> None:
        await _codecs(connection)
        for logger in self._query_loggers:
            connection.add_query_logger(logger)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; none free within DB_POOL_TIMEOUT is a TimeoutError (a 503)."""
        async with self.pool.acquire(timeout=self.acquire_timeout) as connection:
            yield connection

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator["Transaction"]:
        """Statements in one transaction, outside any request (the command line's batches)."""
        async with self.connection() as connection, connection.transaction():
            yield Transaction(connection)

    async def fetch(self, query: Query[R], /, **params: Any) -> list[R]:
        """One statement on a connection of its own, committed by itself."""
        async with self.connection() as connection:
            return await query.fetch(connection, params)

    async def fetch_one(self, query: Query[R], /, **params: Any) -> R | None:
        async with self.connection() as connection:
            return await query.fetch_one(connection, params)

    async def execute(self, query: Query[Any], params: Mapping[str, Any]) -> None:
        async with self.connection() as connection:
            await connection.execute(query.sql, *query.arguments(params))


def database_url(settings: Settings) -> str:
    """DATABASE_URL, or the embedded PostgreSQL's (started on first use) when it is unset."""
    return settings.database_url or embedded_database_url(settings.data_dir)


@asynccontextmanager
async def open_database(settings: Settings, url: str | None = None) -> AsyncIterator[Database]:
    """A database for a command line command, closed at the end."""
    database = await Database.open(settings, url or database_url(settings))
    try:
        yield database
    finally:
        await database.close()


class Transaction:
    """An Executor over one connection in a transaction (Database.transaction)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def fetch(self, query: Query[R], /, **params: Any) -> list[R]:
        return await query.fetch(self.connection, params)

    async def fetch_one(self, query: Query[R], /, **params: Any) -> R | None:
        return await query.fetch_one(self.connection, params)

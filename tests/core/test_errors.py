"""Which errors mean "the database is unavailable" (a 503), or "rolled back for a concurrent
transaction" (a 409), rather than a bug (a 500).

tests/db/test_outage.py provokes the real ones; this pins the decision for each kind.
"""

import asyncio

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.audit.service import status_of
from app.core.errors import (
    ConcurrentChange,
    NotFound,
    concurrency_failure,
    database_unavailable,
    describe_database_error,
    install_error_handlers,
)


def wrapped(error: Exception, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("SELECT 1", None, error, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError(),  # asyncpg's connect timeout and command timeout
        OSError("Multiple exceptions: …"),  # asyncpg, when every address of the host failed
        PoolTimeoutError("QueuePool limit of size 10 overflow 10 reached"),
        wrapped(asyncpg.exceptions.CannotConnectNowError("the database system is starting up")),
        wrapped(asyncpg.exceptions.CannotConnectNowError("the database system is shutting down")),
        wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection")),
        wrapped(asyncpg.exceptions.CrashShutdownError("terminating connection")),
        wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")),
        wrapped(asyncpg.exceptions.ConnectionFailureError("connection failure")),
        wrapped(asyncpg.exceptions.TooManyConnectionsError("too many clients already")),
        wrapped(asyncpg.exceptions.QueryCanceledError("canceling statement due to timeout")),
        wrapped(RuntimeError("anything"), invalidated=True),
        InterfaceError(
            "SELECT 1", None, RuntimeError("connection is closed"), connection_invalidated=True
        ),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    ],
    ids=lambda error: describe_database_error(error),
)
def test_unavailable(error):
    assert database_unavailable(error)
    assert status_of(error) == 503


@pytest.mark.parametrize(
    "error",
    [
        IntegrityError("INSERT", None, asyncpg.exceptions.UniqueViolationError("duplicate")),
        ProgrammingError("SELECT", None, asyncpg.exceptions.UndefinedTableError("no table")),
        wrapped(asyncpg.exceptions.DataError("invalid input for query argument $1")),
        wrapped(asyncpg.exceptions.InterfaceError("another operation is in progress")),
        ValueError("bug"),
        KeyError("bug"),
    ],
    ids=lambda error: describe_database_error(error),
)
def test_a_bug_is_not_unavailable(error):
    assert not database_unavailable(error)
    assert status_of(error) == 500


def test_status_of_typed_errors_is_unchanged():
    assert status_of(NotFound()) == 404
    assert status_of(RequestValidationError([])) == 400


def test_the_description_names_the_kind_and_sqlstate_never_the_message():
    error = wrapped(asyncpg.exceptions.AdminShutdownError("patient Jane Doe +14155550123"))
    assert describe_database_error(error) == "sqlalchemy.exc.DBAPIError (57P01)"
    assert describe_database_error(ConnectionRefusedError(111, "refused")) == (
        "ConnectionRefusedError"
    )


async def deadlock(dsn: str) -> asyncpg.PostgresError:
    """A real deadlock: two transactions each holding the advisory lock the other wants."""
    first, second = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        for connection, key in ((first, 1), (second, 2)):
            await connection.execute("BEGIN")
            await connection.execute("SELECT pg_advisory_xact_lock(424242, $1)", key)
        results = await asyncio.gather(
            first.execute("SELECT pg_advisory_xact_lock(424242, 2)"),
            second.execute("SELECT pg_advisory_xact_lock(424242, 1)"),
            return_exceptions=True,
        )
    finally:
        await first.close()
        await second.close()
    (error,) = [result for result in results if isinstance(result, BaseException)]
    assert isinstance(error, asyncpg.PostgresError)
    return error


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        wrapped(asyncpg.exceptions.DeadlockDetectedError("deadlock detected")),
    ],
    ids=lambda error: describe_database_error(error),
)
def test_a_transaction_rolled_back_for_a_concurrent_one_is_a_conflict(error):
    assert concurrency_failure(error)
    assert not database_unavailable(error)
    assert status_of(error) == 409


async def test_a_real_deadlock_is_a_409_audited_as_such(database_url):
    error = await deadlock(
        make_url(database_url).set(drivername="postgresql").render_as_string(False)
    )
    assert isinstance(error, asyncpg.exceptions.DeadlockDetectedError)
    assert status_of(error) == 409
    application = FastAPI()
    install_error_handlers(application)

    @application.get("/collides")
    async def collides() -> None:
        raise error

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/collides")
    assert response.status_code == 409
    assert response.json() == {"detail": ConcurrentChange.default_detail}

"""Which errors mean "the database is unavailable" (a 503) rather than a bug (a 500).

tests/db/test_outage.py provokes the real ones; this pins the decision for each kind.
"""

import asyncpg
import pytest
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.audit.service import status_of
from app.core.errors import NotFound, database_unavailable, describe_database_error


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

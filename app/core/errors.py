"""Typed errors and the handlers that render every error in the contract's (DRF's) format."""

import logging
import traceback
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

NON_FIELD_ERRORS = "non_field_errors"


class CommandError(Exception):
    """A command line command's failure, reported to the operator in one line."""


class AppError(Exception):
    """An error with a status code and a DRF-shaped body."""

    status_code: ClassVar[int] = 500
    default_detail: ClassVar[str] = "A server error occurred."

    def __init__(self, detail: str | None = None, headers: Mapping[str, str] | None = None):
        self.detail = detail or self.default_detail
        self.headers = dict(headers or {})
        super().__init__(self.detail)

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail}


class NotFound(AppError):
    status_code = 404
    default_detail = "Not found."


class ParseError(AppError):
    status_code = 400
    default_detail = "Malformed request."


class InvalidPage(NotFound):
    default_detail = "Invalid page."


class NotAuthenticated(AppError):
    status_code = 401
    default_detail = "Authentication credentials were not provided."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Throttled(AppError):
    status_code = 429

    def __init__(self, wait_seconds: int) -> None:
        super().__init__(
            f"Request was throttled. Expected available in {wait_seconds} seconds.",
            headers={"Retry-After": str(wait_seconds)},
        )


class PermissionDenied(AppError):
    status_code = 403
    default_detail = "You do not have permission to perform this action."


class PreconditionFailed(AppError):
    status_code = 412
    default_detail = (
        "The patient has changed since you read it: If-Match does not match its current ETag."
    )


class Conflict(AppError):
    status_code = 409


class UnprocessableEntity(AppError):
    status_code = 422


class PayloadTooLarge(AppError):
    status_code = 413

    def __init__(self, limit_bytes: int, what: str = "Upload") -> None:
        super().__init__(f"{what} is larger than the limit of {_size(limit_bytes)}.")


def _size(n_bytes: int) -> str:
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if n_bytes >= factor and n_bytes % factor == 0:
            return f"{n_bytes // factor} {unit}"
    return f"{n_bytes} bytes"


class UnsupportedMediaType(AppError):
    status_code = 415
    default_detail = "Unsupported media type in request."


RETRY_AFTER_SECONDS = 5


class ServiceUnavailable(AppError):
    """503, with when to retry (every 503 of the service says the same)."""

    status_code = 503
    default_detail = "Service temporarily unavailable, try again later."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


class ValidationFailed(AppError):
    """400 with `{"field": ["message", ...]}`."""

    status_code = 400

    def __init__(self, errors: Mapping[str, Sequence[str]]):
        self.errors = {field: list(messages) for field, messages in errors.items()}
        super().__init__("Invalid input.")

    @classmethod
    def on(cls, field: str, message: str) -> "ValidationFailed":
        return cls({field: [message]})

    def body(self) -> dict[str, Any]:
        return dict(self.errors)


_DATETIME_FORMAT = "Datetime has wrong format. Use ISO 8601, e.g. 2024-05-01T14:30:00Z."
_MESSAGES: dict[str, str] = {
    "missing": "This field is required.",
    "string_type": "Not a valid string.",
    "int_type": "A valid integer is required.",
    "int_parsing": "A valid integer is required.",
    "int_from_float": "A valid integer is required.",
    "decimal_type": "A valid number is required.",
    "decimal_parsing": "A valid number is required.",
    "finite_number": "A valid number is required.",
    "decimal_max_places": "Ensure that there are no more than {decimal_places} decimal places.",
    "decimal_max_digits": "Ensure that there are no more than {max_digits} digits in total.",
    "greater_than_equal": "Ensure this value is greater than or equal to {ge}.",
    "less_than_equal": "Ensure this value is less than or equal to {le}.",
    "string_too_short": "Ensure this field has at least {min_length} characters.",
    "string_too_long": "Ensure this field has no more than {max_length} characters.",
    "too_short": "Ensure this field has at least {min_length} elements.",
    "too_long": "Ensure this field has no more than {max_length} elements.",
    "list_type": "Expected a list of items.",
    "literal_error": "Must be one of {expected}.",
    "datetime_type": _DATETIME_FORMAT,
    "datetime_parsing": _DATETIME_FORMAT,
    "datetime_from_date_parsing": _DATETIME_FORMAT,
    "timezone_aware": _DATETIME_FORMAT,
    # A str pydantic cannot read as text: a lone surrogate from a JSON `\ud800` escape.
    "string_unicode": "Surrogate characters are not allowed.",
}


def _message(error: Mapping[str, Any]) -> str:
    """A plain-English message for one pydantic error; never echoes the input (it may be PHI)."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if error.get("input", ...) is None and kind not in ("missing",):
        return "This field may not be null."
    if kind in ("too_short", "too_long") and ctx.get("field_type") != "List":
        kind = "string_" + kind  # a length constraint applied after a validator of ours
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "This field may not be blank."
    template = _MESSAGES.get(kind)
    if template is None:
        # Our own validators raise PydanticCustomError whose message is already plain English.
        return str(error["msg"]).removeprefix("Value error, ")
    return template.format(**ctx)


def _field_name(loc: Sequence[str | int]) -> tuple[str, str]:
    """Split a pydantic location into the contract's field key and a prefix for list items."""
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    if not parts or not isinstance(parts[0], str):
        return NON_FIELD_ERRORS, ""
    prefix = ""
    if len(parts) > 1 and isinstance(parts[1], int):
        prefix = f"Item {parts[1] + 1}: "
    return parts[0], prefix


def validation_errors(errors: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    body: dict[str, list[str]] = {}
    for error in errors:
        field, prefix = _field_name(error["loc"])
        if field == NON_FIELD_ERRORS and error["type"] in ("model_attributes_type", "dict_type"):
            message = "Invalid data. Expected a dictionary."
        elif field == NON_FIELD_ERRORS and error["type"] == "missing":
            message = "No data provided."
        else:
            message = prefix + _message(error)
        messages = body.setdefault(field, [])
        if message not in messages:
            messages.append(message)
    return body


def _json(
    status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return _json(exc.status_code, exc.body(), exc.headers)


def _json_parse_error(reason: object) -> JSONResponse:
    return _json(400, {"detail": f"JSON parse error - {reason}"})


def _errors_for_empty_body(request: Request) -> list[Any]:
    """DRF reads an empty body as `{}`: report each required field rather than a missing body."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(body_field, "field_info", None), "annotation", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    try:
        model.model_validate({})
    except ValidationError as error:
        return list(error.errors())
    return []


def names_nothing(errors: Iterable[Mapping[str, Any]]) -> bool:
    """A path parameter that fails its pattern (a malformed patient id): the path names
    nothing, so the answer is a 404, as for an id nobody has."""
    return any(error["loc"][:1] == ("path",) for error in errors)


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if names_nothing(errors):
        return _json(404, NotFound().body())
    for error in errors:
        if error["type"] == "json_invalid":
            return _json_parse_error((error.get("ctx") or {}).get("error", "invalid JSON"))
    if any(e["type"] == "missing" and tuple(e["loc"]) == ("body",) for e in errors):
        errors = _errors_for_empty_body(request) or errors
    return _json(400, validation_errors(errors))


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # A body that is not even UTF-8 never reaches the JSON decoder's own error.
        return _json_parse_error(exc.__cause__)
    if exc.status_code == 404:
        detail = NotFound.default_detail
    elif exc.status_code == 405:
        detail = f'Method "{request.method}" not allowed.'
        return _json(405, {"detail": detail}, {"Allow": _allowed_methods(request)})
    else:
        detail = str(exc.detail)
    return _json(exc.status_code, {"detail": detail}, exc.headers)


def _allowed_methods(request: Request) -> str:
    """Every method the path answers, as DRF lists them: FastAPI's 405 names those of the first
    endpoint of the path only (its GET, not the PUT and DELETE beside it), in no set order."""
    methods = {
        method
        for route in iter_route_contexts(request.app.routes)
        if route.methods and route.matches(request.scope)[0] != Match.NONE
        for method in route.methods
    }
    return ", ".join(sorted(methods))


# SQLSTATEs of a server that is unreachable, going down, coming up or overwhelmed: connection
# exceptions (class 08), admin or crash shutdown, "the database system is starting up / shutting
# down", too many connections, and statement_timeout (as asyncpg's own command timeout, which
# raises TimeoutError, would).
UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300", "57014")


def database_unavailable(error: BaseException) -> bool:
    """Whether an error means the database cannot be used right now (503), rather than a bug.

    The one place that decides it: a refused, timed-out or dropped connection (OSError, which
    includes TimeoutError: also no pooled connection free in time), a connection closed under
    a statement, or one of UNAVAILABLE_SQLSTATES (asyncpg's errors, and SQLAlchemy's around
    them in the admin).
    """
    if isinstance(error, OSError | PoolTimeoutError | OperationalError):
        return True
    if isinstance(error, asyncpg.InterfaceError) and "connection is closed" in str(error):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig if error.orig is not None else error
    sqlstate = getattr(error, "sqlstate", None) or ""
    return sqlstate.startswith(UNAVAILABLE_SQLSTATES)


# SQLSTATEs of a transaction PostgreSQL rolled back for the sake of a concurrent one
# (serialization_failure, deadlock_detected): nothing was written, and the request may be sent
# again. The scheduling locks keep appointments' writes from ever meeting them; this is the
# answer should any other write.
CONCURRENCY_SQLSTATES = ("40001", "40P01")


class ConcurrentChange(Conflict):
    """409: the database rolled the request back for a concurrent one."""

    default_detail = (
        "The request collided with a concurrent change and was not applied; send it again."
    )


def concurrency_failure(error: BaseException) -> bool:
    """Whether the database rolled the work back for a concurrent transaction (409)."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        error = error.orig
    return getattr(error, "sqlstate", None) in CONCURRENCY_SQLSTATES


def describe_database_error(error: BaseException) -> str:
    """The error's qualified type and SQLSTATE, for logs: never its message, which may quote
    SQL parameters."""
    kind = type(error)
    orig = error.orig if isinstance(error, DBAPIError) else None
    sqlstate = getattr(orig, "sqlstate", None) or getattr(error, "sqlstate", None)
    described = f"{kind.__module__}.{kind.__qualname__}".removeprefix("builtins.")
    return f"{described} ({sqlstate})" if sqlstate else described


async def _server_error(_: Request, exc: Exception) -> JSONResponse:
    """503 when the database is unavailable, 409 when it rolled the work back for a concurrent
    one, otherwise a bare 500."""
    if database_unavailable(exc):
        logger.warning("database unavailable: %s", describe_database_error(exc))
        unavailable = ServiceUnavailable()
        return _json(503, unavailable.body(), unavailable.headers)
    if concurrency_failure(exc):
        logger.warning("rolled back for a concurrent transaction: %s", describe_database_error(exc))
        return _json(ConcurrentChange.status_code, ConcurrentChange().body())
    return _unhandled(exc)


def _unhandled(exc: Exception) -> JSONResponse:
    # Exception messages can quote SQL parameters (PHI): log the type and the frames only.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    logger.error("unhandled %s\n%s", type(exc).__name__, frames)
    return _json(500, AppError().body())


class CatchAllMiddleware:
    """Turns any exception that escaped the handlers into a bare 500 (503 for the database).

    Starlette's own server-error handler re-raises, and the server then logs the exception's
    message, which may quote patient data; this one does not.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            response = await _server_error(Request(scope), exc)
            if not started:
                await response(scope, receive, send)


def install_database_error_handlers(app: Starlette) -> None:
    """503 for the database being unavailable, a bare 500 for other database errors; also for
    a mounted Starlette app (the admin), whose own server-error page would say 500."""
    for kind in (SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        app.add_exception_handler(kind, _server_error)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    install_database_error_handlers(app)
    app.add_middleware(CatchAllMiddleware)

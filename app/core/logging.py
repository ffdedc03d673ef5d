"""Structured logs through structlog: one JSON object per line (LOG_FORMAT=json, the production
default) or human-readable lines (console), for the service's own records, uvicorn's and every
library's alike, each with the request id of the request it belongs to.

No line may carry PHI or a secret: query strings keep only the values of the parameters known to
be harmless (search values are names, phone numbers, emails and tags), exception messages are
never rendered (they can quote SQL parameters), only their types and frames, and keys that name
a secret are masked whatever logged them.
"""

import logging
import sys
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from app.core.config import Settings

REDACTED = "***"
# Query parameters whose values are logged as sent: paging, ordering and the audit filters
# (ids and actions). Every other value is replaced by REDACTED.
VISIBLE_QUERY_VALUES = frozenset(
    {"page", "page_size", "ordering", "sex", "patient", "actor", "action"}
    | {"pageSize", "sortBy", "sort"}  # the admin's list
)
# Parameters named in the log with their value hidden: the API's search filters and the admin's
# search box. A parameter on neither list is logged as `***=***`: its name is the sender's text.
REDACTED_QUERY_PARAMS = frozenset({"name", "phone", "email", "tag", "search"})
# Event keys whose values are never logged, whoever logs them.
SECRET_KEYS = frozenset(
    {"password", "token", "access_token", "authorization", "cookie", "secret", "ssn"}
)
LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": 5,  # uvicorn's TRACE
}
# Loggers whose records reach the root handler; uvicorn configures them with its own handlers.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.asgi")


def _redacted_pair(key: str, value: str) -> tuple[str, str]:
    if key in VISIBLE_QUERY_VALUES:
        return key, value
    if key in REDACTED_QUERY_PARAMS:
        return key, REDACTED
    return REDACTED, REDACTED


def redact_query_string(query: str) -> str:
    """A query string fit for the log: see VISIBLE_QUERY_VALUES and REDACTED_QUERY_PARAMS."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([_redacted_pair(key, value) for key, value in pairs], safe="*")


def redact_query(path: str) -> str:
    parts = urlsplit(path)
    if not parts.query:
        return path
    return urlunsplit(parts._replace(query=redact_query_string(parts.query)))


class RedactQueryFilter(logging.Filter):
    """uvicorn's access records carry (client, method, path with query, http version, status).

    The service writes its own access log and silences uvicorn's (configure_logging); this keeps
    uvicorn's redacted should it be turned on again."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redact_query(args[2]), args[3], args[4])
        return True


def install_access_log_redaction() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryFilter) for f in access.filters):
        access.addFilter(RedactQueryFilter())


def describe_exception(error: BaseException) -> str:
    """The exception and its causes as tracebacks of types and frames, without their messages."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = type(current)
        name = f"{kind.__module__}.{kind.__qualname__}".removeprefix("builtins.")
        frames = "".join(traceback.format_tb(current.__traceback__))
        parts.append(f"Traceback (most recent call last):\n{frames}{name} (message not logged)")
        if current.__cause__ is not None:
            current = current.__cause__
        else:
            current = None if current.__suppress_context__ else current.__context__
    return "\n\nThe above exception led to the following one:\n\n".join(reversed(parts))


def _exception_without_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    exc_info = event_dict.pop("exc_info", None)
    error: BaseException | None = None
    if isinstance(exc_info, BaseException):
        error = exc_info
    elif isinstance(exc_info, tuple):
        error = exc_info[1]
    elif exc_info:
        error = sys.exc_info()[1]
    if error is not None:
        event_dict["exception"] = describe_exception(error)
    return event_dict


def _mask_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key in SECRET_KEYS.intersection(event_dict):
        event_dict[key] = REDACTED
    return event_dict


FIRST_KEYS = ("time", "level", "event", "logger", "request_id")


def _first_keys(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """time, level, event, logger and request id lead every JSON line, for people reading it."""
    ordered = {key: event_dict.pop(key) for key in FIRST_KEYS if key in event_dict}
    ordered.update(event_dict)
    return ordered


class StructuredHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler on the root logger. Without a stream of its own it writes to whatever
    sys.stderr is when a record comes (test runners swap it)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self._follows_stderr = stream is None

    def emit(self, record: logging.LogRecord) -> None:
        if self._follows_stderr:
            self.stream = sys.stderr
        super().emit(record)


class JsonFormatter(structlog.stdlib.ProcessorFormatter):
    """The JSON lines, and the access line of every request rendered straight from its fields
    as the processors would render it (they cost a request some 15 µs: the record copied, eight
    processors); any other record goes through them."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name != ACCESS_LOGGER or not isinstance(record.msg, dict):
            return super().format(record)
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        line = {"time": now, "level": "info", "event": "request", "logger": ACCESS_LOGGER}
        return orjson.dumps({**line, **record.msg}).decode()


def formatter(log_format: str, *, colors: bool = False) -> structlog.stdlib.ProcessorFormatter:
    renderer: Processor
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=colors, timestamp_key="time")
    kind = JsonFormatter if log_format == "json" else structlog.stdlib.ProcessorFormatter
    return kind(
        # Records of the standard library (uvicorn, SQLAlchemy, the service's own loggers): the
        # request id comes from the context the record was logged in.
        foreign_pre_chain=[structlog.contextvars.merge_contextvars],
        processors=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
            _mask_secrets,
            _exception_without_message,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _first_keys,
            renderer,
        ],
    )


def _plain(handlers: Iterable[logging.Handler]) -> list[logging.Handler]:
    """Handlers to replace: ours from an earlier call, and plain console handlers (uvicorn's own,
    logging.basicConfig's). Others (a file, a test runner's capture) are left alone."""
    return [
        h for h in handlers if isinstance(h, StructuredHandler) or type(h) is logging.StreamHandler
    ]


def configure_logging(settings: Settings, stream: TextIO | None = None) -> StructuredHandler:
    """Route every record through structlog's formatter to `stream` (default: sys.stderr).

    Called by create_app, so however the service is started (uvicorn, `python -m app serve`) its
    logs are structured, and again by `serve` before uvicorn starts. Idempotent. uvicorn's access
    log is switched off: the service writes its own (app.core.observability)."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = StructuredHandler(stream)
    colors = (stream or sys.stderr).isatty()
    handler.setFormatter(formatter(settings.effective_log_format, colors=colors))

    # No line shows a record's thread or process: the standard library need not look them up
    # for every record (its documented "Optimization").
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    for old in _plain(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS.get(settings.log_level.lower(), logging.INFO))
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        for old in _plain(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
        logger.disabled = False
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False  # no handler anywhere: uvicorn then skips its access log entirely
    install_access_log_redaction()
    # Python's warnings as records too, so that every JSON line parses (people read the console).
    logging.captureWarnings(settings.effective_log_format == "json")
    return handler


ACCESS_LOGGER = "app.access"
access_logger = logging.getLogger(ACCESS_LOGGER)


def log_request(
    *,
    request_id: str,
    method: str,
    route: str,
    status: int,
    seconds: float,
    actor: str | None,
    query: bytes,
) -> None:
    """The access log line of one request (ObservabilityMiddleware).

    On every request's path, so the record is made here, as structlog's wrap_for_formatter makes
    its own, without a structlog logger in between: one LogRecord, no caller frame looked up."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    fields = {
        "event": "request",
        "request_id": request_id,
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "actor": actor,
    }
    if query:
        fields["query"] = redact_query_string(query.decode("latin-1"))
    record = logging.LogRecord(access_logger.name, logging.INFO, __file__, 0, fields, None, None)
    record._logger = access_logger  # what ProcessorFormatter recognises structlog's records by
    record._name = "info"
    access_logger.handle(record)

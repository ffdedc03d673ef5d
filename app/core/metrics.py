"""Prometheus metrics, served at /metrics (app/health/metrics.py).

- HTTP: requests and their latency by method, route template and status, observed for every
  request by ObservabilityMiddleware (observe_request).
- Database pool: read from the app's asyncpg pool when /metrics is scraped (PoolCollector).
- Business: counted where the thing happens, through the count_* functions below.

Each process counts on its own. With PROMETHEUS_MULTIPROC_DIR set (before the process starts),
prometheus-client keeps the counts in files there and a scrape of any worker adds up all of
them (its multiprocess mode); the pool gauges are those of the worker that answers.
"""

import os
from collections.abc import Callable, Iterable
from decimal import Decimal

import asyncpg
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics import disable_created_metrics
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

# A `_created` timestamp beside every counter doubles the series for nothing Prometheus needs.
disable_created_metrics()  # type: ignore[no-untyped-call]

UNMATCHED = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"
LABELS = ("method", "route", "status")

HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by method, route template and status.",
    LABELS,
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Seconds from a request's arrival to the end of its response, by method, route template "
    "and status.",
    LABELS,
)
PATIENTS_CREATED = Counter("patients_created", "Patients created (POST /api/patients/).")
PATIENTS_DELETED = Counter("patients_deleted", "Patients deleted (DELETE /api/patients/{id}/).")
WALLET_UPDATES = Counter(
    "wallet_updates",
    "Wallet balance changes applied (update_wallet), by direction: credit or debit.",
    ("direction",),
)
FAILED_LOGINS = Counter(
    "failed_logins", "Logins refused for wrong credentials (the API's token and the admin's)."
)
THROTTLED_REQUESTS = Counter(
    "throttled_requests",
    "Requests refused by a rate limit (429), by limit: login (LOGIN_RATE_LIMIT), api "
    "(API_RATE_LIMIT) or password_reset (PASSWORD_RESET_*).",
    ("limit",),
)
for _direction in ("credit", "debit"):
    WALLET_UPDATES.labels(_direction)
for _limit in ("login", "api", "password_reset"):
    THROTTLED_REQUESTS.labels(_limit)


def count_patient_created() -> None:
    PATIENTS_CREATED.inc()


def count_patient_deleted() -> None:
    PATIENTS_DELETED.inc()


def count_wallet_update(amount: Decimal) -> None:
    WALLET_UPDATES.labels("credit" if amount > 0 else "debit").inc()


def count_failed_login() -> None:
    FAILED_LOGINS.inc()


def count_throttled(limit: str) -> None:
    THROTTLED_REQUESTS.labels(limit).inc()


# The labelled children of each (method, route, status) seen, so that a request costs two dict
# lookups and two increments rather than two label resolutions.
_Observers = tuple[Callable[[], None], Callable[[float], None]]
_observers: dict[tuple[str, str, int], _Observers] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    observers = _observers.get((method, route, status)) or _new_observers(method, route, status)
    observers[0]()
    observers[1](seconds)


def _new_observers(method: str, route: str, status: int) -> _Observers:
    standard = method in METHODS  # a client's invented methods never become series of their own
    labels = (method if standard else OTHER_METHOD, route, str(status))
    observers = (HTTP_REQUESTS.labels(*labels).inc, HTTP_REQUEST_DURATION.labels(*labels).observe)
    if standard:
        _observers[(method, route, status)] = observers
    return observers


def waiting_for_connection(pool: asyncpg.Pool) -> int | None:
    """Requests waiting for a pooled connection: the waiters of the asyncio queue inside
    asyncpg's pool. Only when every connection allowed (DB_POOL_SIZE + DB_MAX_OVERFLOW) is in
    use does an acquire wait there, up to DB_POOL_TIMEOUT. None when the pool is not built that
    way (private attributes: the tests check them)."""
    getters = getattr(getattr(pool, "_queue", None), "_getters", None)
    if getters is None:
        return None
    return sum(1 for getter in getters if not getter.done())


class PoolCollector(Collector):
    """The database pool's gauges, read when scraped."""

    def __init__(self, pool: asyncpg.Pool, pool_size: int, max_overflow: int) -> None:
        self.pool = pool
        self.pool_size = pool_size
        self.max_overflow = max_overflow

    def collect(self) -> Iterable[Metric]:
        pool = self.pool
        open_connections, idle = pool.get_size(), pool.get_idle_size()
        gauges = (
            ("db_pool_size", "Connections the pool is sized for (DB_POOL_SIZE).", self.pool_size),
            (
                "db_pool_max_overflow",
                "Connections allowed above the pool size (DB_MAX_OVERFLOW).",
                self.max_overflow,
            ),
            ("db_pool_connections_open", "Connections open now.", open_connections),
            (
                "db_pool_connections_in_use",
                "Connections taken from the pool by requests now.",
                open_connections - idle,
            ),
            ("db_pool_connections_idle", "Open connections idle in the pool.", idle),
        )
        for name, documentation, value in gauges:
            yield GaugeMetricFamily(name, documentation, value=value)
        waiting = waiting_for_connection(pool)
        if waiting is not None:
            yield GaugeMetricFamily(
                "db_pool_waiting",
                "Requests waiting for a pooled connection to be returned (all are in use).",
                value=waiting,
            )


class _Together(Collector):
    def __init__(self, *collectors: Collector) -> None:
        self.collectors = collectors

    def collect(self) -> Iterable[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(pool: PoolCollector | None, accept: str | None) -> tuple[bytes, str]:
    """The scrape's body and content type (Prometheus text, or OpenMetrics when asked for)."""
    base: Collector = REGISTRY
    if multiprocess_dir():
        base = CollectorRegistry()
        MultiProcessCollector(base)  # type: ignore[no-untyped-call]
    collectors = [base] if pool is None else [base, pool]
    encoder, content_type = choose_encoder(accept or "")
    return encoder(_Together(*collectors)), content_type

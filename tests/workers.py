"""What each pytest-xdist worker has to itself: a database (tests/databases.py), a Redis
database, and ports (every server a test starts binds port 0 or a free port it probed)."""

import os
from urllib.parse import urlsplit

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SCRIPT_REDIS_DB = 14  # tests/test_multi_instance.py's script flushes it: no worker's


def worker() -> str:
    """The xdist worker's name (gw0, gw1, …), or "main" without workers."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def worker_number() -> int:
    name = worker()
    return int(name.removeprefix("gw")) if name.startswith("gw") else 0


def redis_url() -> str:
    """TEST_REDIS_URL's database number plus the worker's: the Redis tests compare the keys
    before and after, so workers must not see each other's."""
    parts = urlsplit(os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS_URL))
    number = int(parts.path.strip("/") or 0) + worker_number()
    assert number != SCRIPT_REDIS_DB, "too many workers for one Redis' databases"
    return parts._replace(path=f"/{number}").geturl()

"""`make multi-instance` end to end: two uvicorn instances on one PostgreSQL and one Redis,
with a smaller load than the default (about 15 s)."""

import os
import subprocess
import sys
import uuid
from urllib.parse import urlsplit

import pytest
import redis
from sqlalchemy.engine import make_url

from app.core.config import PROJECT_ROOT

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SCRIPT_REDIS_DB = 14  # flushed by the script: not the database the other Redis tests use


@pytest.fixture
def script_redis_url() -> str:
    """A Redis database of its own for the script. As in tests/core/test_ratelimit.py, a Redis
    that cannot be reached fails the test in CI and skips it elsewhere."""
    url = urlsplit(REDIS_URL)._replace(path=f"/{SCRIPT_REDIS_DB}").geturl()
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI") or os.environ.get("TEST_REDIS_URL"):
            raise
        pytest.skip(f"no Redis at {REDIS_URL}; set TEST_REDIS_URL to run this")
    finally:
        client.close()
    return url


def test_two_instances_lose_no_update_and_share_the_rate_limit(server_url, script_redis_url):
    database = f"multi_instance_{uuid.uuid4().hex[:8]}"
    done = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "scripts.multi_instance",
            "--server-url",
            make_url(server_url).render_as_string(hide_password=False),
            "--database",
            database,
            "--redis-url",
            script_redis_url,
            "--patients",
            "4",
            "--wallet",
            "15",
            "--increments",
            "4",
            "--concurrency",
            "8",
            "--rate-limit",
            "10",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    lines = done.stdout.splitlines()
    assert "errors: 0" in lines, output
    assert any(line.startswith("requests: ") for line in lines), output
    assert any(line.startswith("lost updates: 0 ") for line in lines), output
    assert "pictures shared: yes" in lines, output
    assert any(
        line.startswith("rate limit shared: yes (10/minute: 10 of 30 requests") for line in lines
    ), output

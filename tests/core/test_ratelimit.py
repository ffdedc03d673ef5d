"""RateLimiter: in memory, and in Redis where several instances share one budget."""

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from limits import parse
from pydantic import SecretStr

from app.core.config import Settings
from app.core.errors import Throttled
from app.core.ratelimit import LocalWindows, RateLimiter
from tests.conftest import TEST_PHI_KEY
from tests.workers import redis_url

REDIS_URL = redis_url()  # the worker's own database


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "secret_key": SecretStr("test-signing-key-" + "x" * 32),
        "phi_encryption_keys": SecretStr(TEST_PHI_KEY),
        "redis_url": None,
        "login_rate_limit": "3/minute",
        "api_rate_limit": "4/minute",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def unique_name() -> str:
    return f"user-{uuid.uuid4().hex}"


def unique_address() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{n // 250 % 250}.{n // 62500 % 250 + 1}"


async def fail(limiter: RateLimiter, account: str, address: str, times: int) -> None:
    for _ in range(times):
        await limiter.login_gate(account, address)
        await limiter.failed_login(account, address)


def assert_contract_error(error: Throttled, limit_seconds: int = 60) -> None:
    assert error.status_code == 429
    wait = int(error.headers["Retry-After"])
    assert 1 <= wait <= limit_seconds
    assert error.body() == {
        "detail": f"Request was throttled. Expected available in {wait} seconds."
    }


# In memory (login_rate_limit 3/minute per account and address; the address's ceiling and the
# account's delay at their defaults, 50/minute and 10/15minutes, unless a test says otherwise)


async def test_failed_logins_up_to_the_limit_are_allowed_for_an_account_and_address():
    limiter = RateLimiter(make_settings())
    await fail(limiter, "alice", "10.1.0.1", 3)
    with pytest.raises(Throttled) as caught:
        await limiter.login_gate("alice", "10.1.0.1")
    assert_contract_error(caught.value)


async def test_asking_does_not_use_up_the_budget():
    limiter = RateLimiter(make_settings())
    for _ in range(20):
        assert await limiter.login_gate("alice", "10.1.0.1") == 0
    await fail(limiter, "alice", "10.1.0.1", 3)  # the whole budget is still there ...
    with pytest.raises(Throttled):  # ... and no more
        await limiter.login_gate("alice", "10.1.0.1")


async def test_another_address_is_never_refused_for_an_account_only_slowed():
    limiter = RateLimiter(make_settings(login_account_rate_limit="3/minute"))
    for n in range(3):
        await fail(limiter, "alice", f"10.2.0.{n}", 1)
    # Three failures from elsewhere: the next attempt from a clean address waits 1 s, then 2 s.
    assert await limiter.login_gate("alice", "10.2.1.1") == 1
    await limiter.failed_login("alice", "10.2.1.2")
    assert await limiter.login_gate("alice", "10.2.1.1") == 2
    assert await limiter.login_gate("bob", "10.2.1.1") == 0


async def test_the_delay_has_a_ceiling():
    limiter = RateLimiter(
        make_settings(login_account_rate_limit="1/minute", login_delay_max_seconds=4)
    )
    for n in range(10):
        await fail(limiter, "alice", f"10.8.0.{n}", 1)
    assert await limiter.login_gate("alice", "10.8.1.1") == 4


async def test_spellings_of_one_name_share_a_budget():
    limiter = RateLimiter(make_settings())
    for spelling in ("Alice", " alice", "ALICE "):
        await fail(limiter, spelling, "10.3.0.1", 1)
    with pytest.raises(Throttled):
        await limiter.login_gate("alice", "10.3.0.1")


async def test_an_address_over_its_ceiling_is_refused_for_the_accounts_it_failed_for():
    limiter = RateLimiter(make_settings(login_address_rate_limit="3/minute"))
    for n in range(3):
        await fail(limiter, f"guess-{n}", "10.4.0.1", 1)
    with pytest.raises(Throttled):
        await limiter.login_gate("guess-0", "10.4.0.1")
    # ... and only slowed for one it has not failed for: a right password still gets in.
    assert await limiter.login_gate("someone-else", "10.4.0.1") == 1
    assert await limiter.login_gate("guess-0", "10.4.0.2") == 0


async def test_the_window_moves_on():
    limiter = RateLimiter(make_settings(login_rate_limit="2/second"))
    await fail(limiter, "alice", "10.5.0.1", 2)
    with pytest.raises(Throttled) as caught:
        await limiter.login_gate("alice", "10.5.0.1")
    assert_contract_error(caught.value, limit_seconds=1)
    await asyncio.sleep(1.2)
    assert await limiter.login_gate("alice", "10.5.0.1") == 0


async def use_up_the_api_budget(limiter: RateLimiter, principal: str) -> None:
    """The 4 requests of api_rate_limit pass, the 5th is refused."""
    for _ in range(4):
        await limiter.hit_api(principal)
    with pytest.raises(Throttled) as caught:
        await limiter.hit_api(principal)
    assert_contract_error(caught.value)


async def test_api_budget_per_principal():
    limiter = RateLimiter(make_settings())
    await use_up_the_api_budget(limiter, "staff:1")
    await use_up_the_api_budget(limiter, "staff:2")  # a whole budget of its own
    await use_up_the_api_budget(limiter, "patient:p_abc123")


async def test_reset_forgets_everything():
    limiter = RateLimiter(make_settings(login_account_rate_limit="1/minute"))
    await fail(limiter, "alice", "10.6.0.1", 3)
    await use_up_the_api_budget(limiter, "staff:1")
    with pytest.raises(Throttled):
        await limiter.login_gate("alice", "10.6.0.1")
    assert await limiter.login_gate("alice", "10.6.1.1") == 2.0**2  # the account slowed
    await limiter.reset()
    assert await limiter.login_gate("alice", "10.6.1.1") == 0  # not slowed any more
    await fail(limiter, "alice", "10.6.0.1", 3)  # a whole budget again
    with pytest.raises(Throttled):
        await limiter.login_gate("alice", "10.6.0.1")
    await use_up_the_api_budget(limiter, "staff:1")


async def test_instances_in_memory_do_not_share():
    one, two = RateLimiter(make_settings()), RateLimiter(make_settings())
    await fail(one, "alice", "10.7.0.1", 3)
    await use_up_the_api_budget(one, "staff:1")
    with pytest.raises(Throttled):
        await one.login_gate("alice", "10.7.0.1")
    assert await two.login_gate("alice", "10.7.0.1") == 0
    await fail(two, "alice", "10.7.0.1", 3)  # a whole budget of its own
    await use_up_the_api_budget(two, "staff:1")


# Redis: .ci/run starts it and sets TEST_REDIS_URL, so there a Redis that cannot be reached
# fails the tests. On a newcomer's machine without Redis they are skipped.


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("CI") or os.environ.get("TEST_REDIS_URL"):
            raise
        pytest.skip(f"no Redis at {REDIS_URL}; set TEST_REDIS_URL to run these")
    before = set(client.scan_iter())
    yield client
    created = set(client.scan_iter()) - before
    if created:
        client.delete(*created)
    client.close()


def redis_settings(**overrides: object) -> Settings:
    return make_settings(redis_url=REDIS_URL, **overrides)


async def test_instances_share_failed_logins_through_redis(redis_client):
    username, address = unique_name(), unique_address()
    settings = redis_settings(login_account_rate_limit="3/minute")
    one, two = RateLimiter(settings), RateLimiter(settings)
    await fail(one, username, address, 2)
    await fail(two, username, address, 1)
    for limiter in (one, two):
        with pytest.raises(Throttled) as caught:
            await limiter.login_gate(username, address)
        assert_contract_error(caught.value)
    # From another address the account is slowed, not refused; another account is untouched.
    assert await two.login_gate(username, unique_address()) == 1
    assert await one.login_gate(unique_name(), address) == 0


async def test_instances_share_the_api_budget_through_redis(redis_client):
    principal = f"staff:{uuid.uuid4().hex}"
    one, two = RateLimiter(redis_settings()), RateLimiter(redis_settings())
    await one.hit_api(principal)
    await two.hit_api(principal)
    await one.hit_api(principal)
    await two.hit_api(principal)
    with pytest.raises(Throttled):
        await one.hit_api(principal)
    with pytest.raises(Throttled):
        await two.hit_api(principal)
    await one.hit_api(f"staff:{uuid.uuid4().hex}")


async def test_login_keys_in_redis_do_not_name_the_user(redis_client):
    username = f"+1415{uuid.uuid4().int % 10**7:07d}"  # patients log in with their phone number
    readable = f"Jane.Doe.{uuid.uuid4().hex[:8]}"
    address = unique_address()
    before = set(redis_client.scan_iter())
    limiter = RateLimiter(redis_settings())
    await fail(limiter, username, address, 1)
    await fail(limiter, readable, address, 1)
    created = [key.decode() for key in set(redis_client.scan_iter()) - before]
    assert any("login" in key for key in created), created  # the limiter did use Redis
    digits = username.removeprefix("+")
    for key in redis_client.scan_iter():
        text = key.decode().lower()
        assert digits not in text, key
        assert readable.lower() not in text, key
        for value in redis_client.lrange(key, 0, -1) if redis_client.type(key) == b"list" else []:
            assert digits.encode() not in value, key


@pytest.mark.parametrize("storage", ["memory", "redis"])
async def test_a_known_device_counts_its_own_failures_only(storage, request):
    """Issue 22: device tokens (app.auth.devices). A device's failures are its own: they neither
    count for the account nor the address, and a success forgets them; strangers' failures do
    not touch the device."""
    if storage == "redis":
        request.getfixturevalue("redis_client")
    settings = make_settings(
        login_device_rate_limit="2/hour",
        login_account_rate_limit="1/minute",
        redis_url=REDIS_URL if storage == "redis" else None,
    )
    one = RateLimiter(settings)
    two = RateLimiter(settings) if storage == "redis" else one  # another instance: shared
    account, address, device = unique_name(), unique_address(), uuid.uuid4().hex
    await fail(one, account, address, 3)  # strangers: this pair refused, the account slowed
    assert await one.login_gate(account, address, device) == 0.0
    for _ in range(2):
        await two.failed_login(account, unique_address(), device)
    for limiter in (two, one):
        with pytest.raises(Throttled) as caught:
            await limiter.login_gate(account, address, device)
        assert_contract_error(caught.value, limit_seconds=3600)
    assert await two.login_gate(account, address, uuid.uuid4().hex) == 0.0  # another device
    await two.login_succeeded(device)
    assert await two.login_gate(account, address, device) == 0.0
    # The device's failures did not grow the account's delay: still the strangers' three.
    assert await one.login_gate(account, unique_address()) == 2.0**2


# The API limit in memory: a sliding window counter (LocalWindows)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(6000.0)  # the start of a minute-long window
    monkeypatch.setattr("app.core.ratelimit.time.time", clock)
    return clock


def test_a_window_allows_its_amount_then_says_how_long_to_wait(clock):
    windows = LocalWindows(parse("3/minute"))
    assert [windows.hit("a") for _ in range(3)] == [None, None, None]
    clock.now += 20
    assert windows.hit("a") == 40  # the rest of the window
    assert windows.hit("b") is None  # keys are counted apart


def test_the_previous_window_counts_by_how_much_of_it_still_overlaps(clock):
    windows = LocalWindows(parse("4/minute"))
    for _ in range(4):
        assert windows.hit("a") is None
    clock.now += 60 + 30  # half way through the next window: the 4 weigh 2
    assert windows.hit("a") is None
    assert windows.hit("a") is None
    assert windows.hit("a") is not None  # 2 + 2 of 4
    clock.now += 15  # three quarters through: the 4 weigh 1, with 2 counted now
    assert windows.hit("a") is None
    assert windows.hit("a") is not None


def test_a_window_two_windows_ago_weighs_nothing(clock):
    windows = LocalWindows(parse("2/minute"))
    windows.hit("a"), windows.hit("a")
    clock.now += 120
    assert windows.hit("a") is None
    assert windows.hit("a") is None


def test_idle_keys_are_pruned(clock, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(LocalWindows, "PRUNE_EVERY", 3)
    windows = LocalWindows(parse("10/minute"))
    windows.hit("old")
    clock.now += 180
    windows.hit("new")
    windows.hit("new")
    assert set(windows._windows) == {"new"}


async def test_the_in_memory_api_limit_refuses_with_the_contract_error():
    limiter = RateLimiter(make_settings(api_rate_limit="2/minute"))
    await limiter.hit_api("staff:1")
    await limiter.hit_api("staff:1")
    with pytest.raises(Throttled) as caught:
        await limiter.hit_api("staff:1")
    assert_contract_error(caught.value)

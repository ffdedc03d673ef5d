"""Rate limits through the `limits` library: in memory by default, in Redis when REDIS_URL is set,
so several instances share one budget.

Failed logins are counted exactly (a moving window: few events, each kept). Every API request is
counted too, so that limit is a sliding window counter: two counters a key, where a moving window
keeps an event per request (a list that grew to tens of thousands under load, shifted on every
hit) and expires them in a worker thread."""

import hashlib
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.aio.strategies import (
    RateLimiter as RateLimiterStrategy,
)

from app.core.config import Settings
from app.core.errors import Throttled
from app.core.metrics import count_failed_login, count_throttled


def _anonymous(value: str) -> str:
    # Login names may be phone numbers: keep them out of the limiter's storage.
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self._storage: Storage = (
            RedisStorage(f"async+{settings.redis_url}") if settings.redis_url else MemoryStorage()
        )
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._api = SlidingWindowCounterRateLimiter(self._storage)
        self.login_limit = parse(settings.login_rate_limit)
        self.api_limit = parse(settings.api_rate_limit)

    async def check_login(self, username: str, client_address: str) -> None:
        """Refuse a login attempt while failed attempts for the name or the address are used up."""
        for key in self._login_keys(username, client_address):
            if not await self._limiter.test(self.login_limit, *key):
                count_throttled("login")
                raise Throttled(await _wait(self._limiter, self.login_limit, key))

    async def failed_login(self, username: str, client_address: str) -> None:
        count_failed_login()
        for key in self._login_keys(username, client_address):
            await self._limiter.hit(self.login_limit, *key)

    async def hit_api(self, principal_key: str) -> None:
        key = ("api", principal_key)
        if not await self._api.hit(self.api_limit, *key):
            count_throttled("api")
            raise Throttled(await _wait(self._api, self.api_limit, key))

    async def reset(self) -> None:
        await self._storage.reset()

    @staticmethod
    def _login_keys(username: str, client_address: str) -> tuple[tuple[str, ...], ...]:
        return (("login-user", _anonymous(username)), ("login-address", client_address))


async def _wait(strategy: RateLimiterStrategy, limit: RateLimitItem, key: tuple[str, ...]) -> int:
    """Seconds until the limit lets the key through again (Retry-After)."""
    stats = await strategy.get_window_stats(limit, *key)
    return max(1, math.ceil(stats.reset_time - time.time()))

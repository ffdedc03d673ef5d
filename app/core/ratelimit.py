"""Rate limits: in memory by default, in Redis when REDIS_URL is set, so several instances share
one budget.

Failed logins are counted three ways (API.md "Authentication"): per account and client address,
where the pair is refused past LOGIN_RATE_LIMIT; per address over all accounts, past whose
ceiling an address is refused for the accounts it failed for and slowed for the rest; per
account from anywhere, which only ever slows its logins down, so that nobody can lock an account
out. Every name of an account (a patient's id, phone number, e-mail) is one account.

Those three count the failures of unknown clients. A client that has logged in to the account
before and shows its device token (app.auth.devices; OWASP's device cookies) is counted apart,
per token, past LOGIN_DEVICE_RATE_LIMIT refused: strangers' failures neither slow nor refuse it,
and a stolen token buys no more guesses than that.

API requests are counted per account, never per token: a login or a refresh makes a new token,
which would bring a new budget.

All are sliding window counters (two counters a key: the current window's, and the
previous one's weighted by how much of it still overlaps): failed logins through the `limits`
library, in memory or in Redis; every API request in Redis through `limits` too, and in memory
by `LocalWindows` below, since limits' own memory storage schedules a task on every hit to
expire keys: 4% of a read's CPU, for two integers. A moving window (an event kept per hit)
expires its events in a worker thread: none is used."""

import hashlib
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import RateLimiter as RateLimiterStrategy
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from app.core.config import Settings
from app.core.errors import Throttled
from app.core.metrics import count_failed_login, count_throttled

COUNTING_AMOUNT = 1_000_000
UNKNOWN_ADDRESS = "unknown"


def address_key(client_address: str | None) -> str:
    """The key of a client's address in the limits: clients the server cannot tell apart (no
    address given) share one budget."""
    return client_address or UNKNOWN_ADDRESS


def _anonymous(value: str) -> str:
    # Login names may be phone numbers: keep them out of the limiter's storage.
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


class LocalWindows:
    """limits' sliding window counter, in this process: a hit is allowed while the count of the
    current window, plus the previous window's weighted by how much of it still overlaps the
    last `expiry` seconds, stays within the limit."""

    PRUNE_EVERY = 10_000  # hits between sweeps of keys idle for two windows

    def __init__(self, limit: RateLimitItem) -> None:
        self.amount = limit.amount
        self.expiry = limit.get_expiry()
        self._windows: dict[str, tuple[int, int, int]] = {}  # key: (window, previous, current)
        self._hits = 0

    def hit(self, key: str) -> int | None:
        """None when the hit is allowed (and counted); else the seconds to wait."""
        window, elapsed = divmod(time.time(), self.expiry)
        number = int(window)
        seen, previous, current = self._windows.get(key, (number, 0, 0))
        if seen != number:
            previous, current = (current if seen == number - 1 else 0), 0
        weighted = previous * (self.expiry - elapsed) / self.expiry + current
        if math.floor(weighted) + 1 > self.amount:
            self._windows[key] = (number, previous, current)
            return max(1, math.ceil(self.expiry - elapsed))
        self._windows[key] = (number, previous, current + 1)
        self._hits += 1
        if self._hits % self.PRUNE_EVERY == 0:
            self._prune(number)
        return None

    def reset(self) -> None:
        self._windows.clear()

    def _prune(self, number: int) -> None:
        stale = [key for key, (seen, _, _) in self._windows.items() if seen < number - 1]
        for key in stale:
            del self._windows[key]


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self._storage: Storage = (
            RedisStorage(f"async+{settings.redis_url}") if settings.redis_url else MemoryStorage()
        )
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        self._api = self._limiter
        self.login_limit = parse(settings.login_rate_limit)
        self.login_address_limit = parse(settings.login_address_rate_limit)
        self.login_account_limit = parse(settings.login_account_rate_limit)
        self.login_delay_max = settings.login_delay_max_seconds
        self.login_device_limit = parse(settings.login_device_rate_limit)
        self.api_limit = parse(settings.api_rate_limit)
        self.reset_limit = parse(settings.password_reset_rate_limit)
        self.reset_address_limit = parse(settings.password_reset_address_rate_limit)
        self.reset_confirm_limit = parse(settings.password_reset_confirm_rate_limit)
        self._local = None if settings.redis_url else LocalWindows(self.api_limit)

    async def login_gate(
        self, account: str, client_address: str, device: str | None = None
    ) -> float:
        """Before a login attempt on `account` (a key that every name of the account shares) from
        an address: Throttled while that pair's failures are used up, or while the address is
        over its own ceiling and has failed for this account too; else the seconds to wait first
        (a delay that doubles with each failure past the account's limit, from anywhere, or past
        the address's). A password from an address that has not failed for the account is never
        refused for the failures of others: at most delayed. With the id of a device token the
        account gave (a known client), only that device's own failures count: Throttled past
        them, never delayed."""
        if device is not None:
            key = ("login-device", device)
            if not await self._limiter.test(self.login_device_limit, *key):
                count_throttled("login")
                raise Throttled(await _wait(self._limiter, self.login_device_limit, key))
            return 0.0
        pair = ("login-pair", _anonymous(account), client_address)
        if not await self._limiter.test(self.login_limit, *pair):
            count_throttled("login")
            raise Throttled(await _wait(self._limiter, self.login_limit, pair))
        address = ("login-address", client_address)
        address_failures = await self._count(self.login_address_limit, address)
        over_ceiling = address_failures >= self.login_address_limit.amount
        if over_ceiling and await self._count(self.login_limit, pair, counting=False):
            count_throttled("login")
            raise Throttled(
                await _wait(self._limiter, self._counting(self.login_address_limit), address)
            )
        account_failures = await self._count(
            self.login_account_limit, ("login-account", _anonymous(account))
        )
        excess = max(
            account_failures - self.login_account_limit.amount,
            address_failures - self.login_address_limit.amount,
        )
        return 0.0 if excess < 0 else min(self.login_delay_max, float(2**excess))

    async def failed_login(
        self, account: str, client_address: str, device: str | None = None
    ) -> None:
        """A failed attempt: a known client's counts for its device only."""
        count_failed_login()
        if device is not None:
            await self._limiter.hit(self.login_device_limit, "login-device", device)
            return
        await self._limiter.hit(self.login_limit, "login-pair", _anonymous(account), client_address)
        await self._limiter.hit(
            self._counting(self.login_address_limit), "login-address", client_address
        )
        await self._limiter.hit(
            self._counting(self.login_account_limit), "login-account", _anonymous(account)
        )

    async def login_succeeded(self, device: str | None) -> None:
        """The device's failures are forgotten: its holder knew the password. (An unknown
        client's are not: strangers would get a fresh budget at every login of the owner.)"""
        if device is not None:
            await self._limiter.clear(self.login_device_limit, "login-device", device)

    async def _count(
        self, limit: RateLimitItem, key: tuple[str, ...], *, counting: bool = True
    ) -> int:
        """Failures in the limit's window (the sliding window counter's weighted count)."""
        item = self._counting(limit) if counting else limit
        stats = await self._limiter.get_window_stats(item, *key)
        return item.amount - stats.remaining

    @staticmethod
    def _counting(limit: RateLimitItem) -> RateLimitItem:
        """The limit's window with room to count every hit: a limit's own counter stops at it."""
        return type(limit)(COUNTING_AMOUNT, limit.multiples, limit.namespace)

    async def password_reset_gate(self, name: str, client_address: str) -> None:
        """A password-reset request: Throttled past the address's limit or the login name's.
        By the name as given, not its account: a 429 then says nothing of whether it has one."""
        await self._take(
            "password_reset", self.reset_address_limit, ("reset-address", client_address)
        )
        await self._take("password_reset", self.reset_limit, ("reset-name", _anonymous(name)))

    async def password_reset_mail(self, account: str) -> bool:
        """Whether the account may be sent another reset mail (by any of its names): past the
        limit none is, and the request is answered the same."""
        return await self._limiter.hit(self.reset_limit, "reset-account", _anonymous(account))

    async def password_reset_confirm_gate(self, client_address: str) -> None:
        await self._take(
            "password_reset", self.reset_confirm_limit, ("reset-confirm", client_address)
        )

    async def _take(self, what: str, limit: RateLimitItem, key: tuple[str, ...]) -> None:
        if not await self._limiter.hit(limit, *key):
            count_throttled(what)
            raise Throttled(await _wait(self._limiter, limit, key))

    async def hit_api(self, account: str) -> None:
        """One API request of an account (`staff:<id>`, `patient:<id>`: every token of it shares
        the budget) or of a calendar feed's client address: Throttled past API_RATE_LIMIT."""
        if self._local is not None:
            wait = self._local.hit(account)
        else:
            key = ("api", account)
            hit = await self._api.hit(self.api_limit, *key)
            wait = None if hit else await _wait(self._api, self.api_limit, key)
        if wait is not None:
            count_throttled("api")
            raise Throttled(wait)

    async def reset(self) -> None:
        await self._storage.reset()
        if self._local is not None:
            self._local.reset()


async def _wait(strategy: RateLimiterStrategy, limit: RateLimitItem, key: tuple[str, ...]) -> int:
    """Seconds until the limit lets the key through again (Retry-After)."""
    stats = await strategy.get_window_stats(limit, *key)
    return max(1, math.ceil(stats.reset_time - time.time()))

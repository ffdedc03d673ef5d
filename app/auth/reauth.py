"""A signed-in account's password asked for again (to change it), as a login counts it."""

import asyncio
from dataclasses import dataclass

from app.auth.permissions import Principal
from app.core.ratelimit import RateLimiter, address_key
from app.core.security import verify_password


@dataclass(frozen=True)
class Reauthentication:
    """A signed-in account's password asked for again (to change it): its failures are failed
    logins of the account from the client's address, under the login's limits and delays, so a
    stolen access token is no faster a password oracle than the login form."""

    limiter: RateLimiter
    client_address: str | None

    async def verify(self, principal: Principal, password: str, password_hash: str) -> bool:
        """Whether `password` is the account's. Throttled (nothing checked) while the
        account's failures from this address are used up; a wrong one is counted."""
        address = address_key(self.client_address)
        if delay := await self.limiter.login_gate(principal.key, address):
            await asyncio.sleep(delay)
        valid, _ = await verify_password(password, password_hash)
        if not valid:
            await self.limiter.failed_login(principal.key, address)
        return valid

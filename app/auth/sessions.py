"""Sessions that end: a login opens one; its access tokens are short and name it; an API session
also has refresh tokens, each used once.

An access token is good only while its session is open (the caller check of every request reads
the session: app.auth.repository), so logging out, changing a password or a refresh token seen
twice ends a session for every instance at once, on its next request. A refresh token is a random
value given once and kept only as its SHA-256; using it marks it used and gives the next one (in
the same session, so the session's end still bounds them). Presenting a used one again means two
holders have it: the session ends, and both must log in again (OAuth 2.0 Security BCP, 4.14).
"""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.auth.permissions import Principal, patient_principal, staff_principal
from app.auth.repository import AccountRepository, SessionRepository
from app.auth.schemas import SessionAccountRow
from app.auth.tokens import Tokens
from app.core.config import Settings
from app.core.errors import NotAuthenticated
from app.db.query import Executor

REFRESH_REFUSED = "Refresh token not valid or expired."


@dataclass(frozen=True)
class Issued:
    """What a login or a refresh gives an API client."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


@dataclass(frozen=True)
class Refreshed:
    """A refresh: the session's account, and the tokens that replace the one used."""

    principal: Principal
    issued: Issued


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def end_all_sessions(executor: Executor, principal: Principal) -> int:
    """End every session of an account, in the executor's transaction: how many were open."""
    staff_id, patient_id = principal.account_ids
    return await SessionRepository(executor).end_all(staff_id=staff_id, patient_id=patient_id)


class Sessions:
    """Opens, refreshes and ends sessions, on the executor of a unit of work (in a transaction:
    a session and its first refresh token are written together)."""

    def __init__(self, executor: Executor, tokens: Tokens, settings: Settings) -> None:
        self.sessions = SessionRepository(executor)
        self.accounts = AccountRepository(executor)
        self.tokens = tokens
        self.settings = settings

    async def open_api(self, principal: Principal) -> Issued:
        session_id = uuid.uuid4()
        lifetime = timedelta(seconds=self.settings.session_max_age_seconds)
        await self._open(principal, session_id, "api", lifetime)
        return await self._issue(principal, session_id)

    async def open_admin(self, principal: Principal) -> uuid.UUID:
        """A session for the admin's cookie, which names it (no tokens)."""
        session_id = uuid.uuid4()
        lifetime = timedelta(seconds=self.settings.admin_session_seconds)
        await self._open(principal, session_id, "admin", lifetime)
        return session_id

    async def refresh(self, refresh_token: str) -> Refreshed:
        """The next tokens of the session `refresh_token` belongs to, which is used up. An unknown,
        expired or used token is a NotAuthenticated; a used one also ends its session."""
        token_digest = digest(refresh_token)
        used = await self.sessions.use_refresh_token(token_digest)
        if used is None:
            raise NotAuthenticated(REFRESH_REFUSED)
        principal = await self._principal(used)
        if principal is None:
            raise NotAuthenticated(REFRESH_REFUSED)
        return Refreshed(principal, await self._issue(principal, used["session_id"]))

    async def end_reused(self, refresh_token: str) -> Principal | None:
        """If `refresh_token` was used before, end its session: the account it belonged to."""
        ended = await self.sessions.end_reused(digest(refresh_token))
        return None if ended is None else await self._principal(ended, active_only=False)

    async def end(self, session_id: str | uuid.UUID) -> bool:
        return await self.sessions.end(uuid.UUID(str(session_id)))

    async def end_all(self, principal: Principal) -> int:
        """End every session of the account: after a password change, a reset, a deactivation."""
        return await end_all_sessions(self.sessions.executor, principal)

    async def admin_staff(self, session_id: uuid.UUID) -> Principal | None:
        """The staff member of an open admin session, while they are active."""
        staff = await self.sessions.admin_staff(session_id)
        return (
            None
            if staff is None
            else staff_principal(staff["id"], staff["username"], staff["role"])
        )

    async def _open(
        self, principal: Principal, session_id: uuid.UUID, kind: str, lifetime: timedelta
    ) -> None:
        staff_id, patient_id = principal.account_ids
        await self.sessions.open(
            session_id, kind=kind, staff_id=staff_id, patient_id=patient_id, lifetime=lifetime
        )

    async def _issue(self, principal: Principal, session_id: uuid.UUID) -> Issued:
        refresh_token = secrets.token_urlsafe(32)
        lifetime = timedelta(seconds=self.settings.refresh_token_ttl_seconds)
        expires_at = await self.sessions.new_refresh_token(
            session_id, digest(refresh_token), lifetime
        )
        access_token = self.tokens.create(
            kind=principal.kind, subject=principal.id, session=str(session_id)
        )
        refresh_left = int((expires_at - datetime.now(UTC)).total_seconds())
        return Issued(
            access_token=access_token,
            expires_in=self.tokens.lifetime,
            refresh_token=refresh_token,
            refresh_expires_in=max(0, refresh_left),
        )

    async def _principal(
        self, session: SessionAccountRow, *, active_only: bool = True
    ) -> Principal | None:
        """The account a session belongs to (None: a staff member since deactivated)."""
        if session["patient_id"] is not None:
            return patient_principal(session["patient_id"])
        assert session["staff_id"] is not None  # a session has one account (one_account)
        staff = await self.accounts.staff_by_id(session["staff_id"])
        if staff is None or (active_only and not staff["is_active"]):
            return None
        return staff_principal(staff["id"], staff["username"], staff["role"])

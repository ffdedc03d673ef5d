"""Logging in, for the API's token and the admin's session alike, and turning a token back into
the principal it names."""

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from app.audit.actions import Action
from app.audit.service import AuditEntry, record_apart
from app.auth.devices import DeviceTokens
from app.auth.permissions import Principal, patient_principal, staff_principal
from app.auth.repository import AccountRepository
from app.auth.sessions import Refreshed, Sessions
from app.auth.tokens import TokenClaims
from app.core.errors import NotAuthenticated, Throttled
from app.core.ids import INTEGER_MAX, parse_id
from app.core.phones import canonical_phone
from app.core.ratelimit import RateLimiter, address_key
from app.core.security import verify_password
from app.db.database import Database
from app.models.patient import PHONE_NO, is_patient_id
from app.requests.work import UnitOfWork

T = TypeVar("T")
SessionsFor = Callable[[UnitOfWork], Sessions]
BAD_CREDENTIALS = "No active account found with the given credentials."
# What a phone number may be typed with at login: "+1 (415) 555-0100" is +14155550100.
PHONE_TYPED = re.compile(r"[ .()-]")
NAME_MAX = 254  # the longest login name of any account: an e-mail address


@dataclass(frozen=True)
class Account:
    """Someone a login name points at, active or not."""

    principal: Principal
    password_hash: str
    active: bool


def login_entry(action: Action, account: Account | None, client_address: str | None) -> AuditEntry:
    """The audit entry of a login attempt: the account the name points at, if any."""
    principal = account.principal if account else None
    return AuditEntry(
        action=action,
        actor=principal.name if principal else "unknown",
        actor_kind=principal.kind if principal else "anonymous",
        patient_id=principal.id if principal and not principal.is_staff else None,
        client_address=client_address,
    )


class AuthService:
    def __init__(self, database: Database, limiter: RateLimiter) -> None:
        self.database = database
        self.limiter = limiter
        self.accounts = AccountRepository(database)

    async def login(
        self,
        username: str,
        password: str,
        client_address: str | None,
        *,
        then: Callable[[UnitOfWork, Principal], Awaitable[T]],
        action: Action = Action.LOGIN,
        staff_only: bool = False,
        devices: DeviceTokens | None = None,
        device_token: str | None = None,
    ) -> T:
        """Check the credentials, then `then(work, principal)` (open a session) in the login's
        audited unit of work, in one transaction; its result. NotAuthenticated when they are
        wrong (the same whether the name exists or not, in about the same time); Throttled
        while this address's failures for the account, or over all accounts, are used up, or,
        for a client with a device token of the account, that device's own. Every attempt is
        audited. With `staff_only` (the admin), a patient's name is checked as an unknown
        one."""
        address = address_key(client_address)
        account = await self.find_account(username)
        entry = login_entry(action, account, client_address)  # a patient at the admin is named too
        if staff_only and account is not None and not account.principal.is_staff:
            account = None
        # Every name of an account is one account to the limits; an unknown name is its own.
        key = account.principal.key if account else "name:" + username.strip().lower()
        device = devices.device(device_token, account.principal) if devices and account else None
        try:
            delay = await self.limiter.login_gate(key, address, device)
        except Throttled as refusal:
            await record_apart(self.database, login_entry(action, None, client_address), 429)
            raise refusal
        if delay:
            await asyncio.sleep(delay)
        valid, new_hash = await verify_password(
            password, account.password_hash if account else None
        )
        if account is None or not valid or not account.active:
            await self.limiter.failed_login(key, address, device)
            await record_apart(self.database, entry, 401)
            raise NotAuthenticated(BAD_CREDENTIALS)
        await self.limiter.login_succeeded(device)
        async with UnitOfWork(self.database, entry) as work:
            await work.begin()
            if new_hash is not None:  # stored with outdated parameters: upgraded now
                await self._store_hash(work, account.principal, new_hash)
            return await then(work, account.principal)

    async def refresh(
        self, refresh_token: str, client_address: str | None, sessions: SessionsFor
    ) -> Refreshed:
        """The next tokens of a refresh token's session. An unknown, expired or used one is a
        NotAuthenticated; a used one also ends its session, audited under its account (an
        unknown token is not audited, as a bad bearer token is not)."""
        entry = AuditEntry(
            action=Action.REFRESH_TOKEN,
            actor="unknown",
            actor_kind="anonymous",
            patient_id=None,
            client_address=client_address,
        )
        try:
            async with UnitOfWork(self.database, entry, anonymous=True) as work:
                await work.begin()
                refreshed = await sessions(work).refresh(refresh_token)
                _name_actor(work, refreshed.principal)
                return refreshed
        except NotAuthenticated:
            async with UnitOfWork(self.database, entry, status_code=401, anonymous=True) as work:
                if (owner := await sessions(work).end_reused(refresh_token)) is not None:
                    _name_actor(work, owner)
            raise

    async def find_account(self, username: str) -> Account | None:
        """Staff by username or e-mail; patients by patient id, phone number (by its canonical
        form, as stored) or e-mail. An address is compared in any case, and names one account
        (migration 0015); one that several patients shared before names none of them."""
        username = username.strip()
        if "\x00" in username or not username.isprintable() or len(username) > NAME_MAX:
            return None  # no account has such a name (PostgreSQL cannot even compare a NUL)
        staff = await self.accounts.staff_by_username(username)
        if staff is None and "@" in username:
            staff = await self.accounts.staff_by_email(username)
        if staff is not None:
            principal = staff_principal(staff["id"], staff["username"], staff["role"])
            return Account(principal, staff["password_hash"], staff["is_active"])
        if is_patient_id(username):
            patient = await self.accounts.patient_by_id(username)
        elif PHONE_NO.fullmatch(typed := PHONE_TYPED.sub("", username)):
            patient = await self.accounts.patient_by_phone(typed, canonical_phone(typed))
        elif "@" in username:
            patient = await self.accounts.patient_by_email(username)
        else:
            patient = None
        if patient is None:
            return None
        return Account(patient_principal(patient["id"]), patient["password_hash"], active=True)

    @staticmethod
    async def _store_hash(work: UnitOfWork, principal: Principal, password_hash: str) -> None:
        accounts = AccountRepository(work)
        if principal.is_staff:
            await accounts.set_staff_password_hash(int(principal.id), password_hash)
        else:
            await accounts.set_patient_password_hash(principal.id, password_hash)


def _name_actor(work: UnitOfWork, principal: Principal) -> None:
    work.act_as(principal.name, principal.kind)
    if not principal.is_staff:
        work.entry.patient_id = principal.id


def caller_id(claims: TokenClaims) -> int | str | None:
    """The id of the account a token names, as the caller's row is found by; None when its
    subject cannot name one (a staff id out of range, a malformed patient id)."""
    subject = claims.subject
    if claims.kind == "staff":
        return parse_id(subject, INTEGER_MAX)
    return subject if is_patient_id(subject) else None

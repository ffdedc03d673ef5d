"""Logging in, for the API's token and the admin's session alike, and turning a token back into
the principal it names."""

from dataclasses import dataclass

from app.audit.service import AuditEntry, record_apart
from app.audit.work import UnitOfWork
from app.auth.permissions import Principal, patient_principal, staff_principal
from app.auth.repository import AccountRepository
from app.auth.tokens import TokenClaims
from app.core.errors import NotAuthenticated, Throttled
from app.core.ratelimit import RateLimiter
from app.core.security import verify_password
from app.db.database import Database
from app.models.patient import PHONE_NO, is_patient_id

BAD_CREDENTIALS = "No active account found with the given credentials."
STAFF_ID_MAX = 2**31 - 1  # staff.id is an integer column


@dataclass(frozen=True)
class Account:
    """Someone a login name points at, active or not."""

    principal: Principal
    password_hash: str
    active: bool


def login_entry(action: str, account: Account | None, client_address: str | None) -> AuditEntry:
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
        action: str = "login",
        staff_only: bool = False,
    ) -> Principal:
        """The principal whose credentials these are, or NotAuthenticated (the same whether the
        name exists or not, in about the same time); Throttled while the name's or the address's
        failures are used up. Every attempt is audited. With `staff_only` (the admin), a
        patient's name is checked as an unknown one."""
        address = client_address or "unknown"
        try:
            await self.limiter.check_login(username, address)
        except Throttled as refusal:
            await record_apart(self.database, login_entry(action, None, address), 429)
            raise refusal
        account = await self.find_account(username)
        entry = login_entry(action, account, address)
        if staff_only and account is not None and not account.principal.is_staff:
            account = None
        valid, new_hash = await verify_password(
            password, account.password_hash if account else None
        )
        if account is None or not valid or not account.active:
            await self.limiter.failed_login(username, address)
            await record_apart(self.database, entry, 401)
            raise NotAuthenticated(BAD_CREDENTIALS)
        async with UnitOfWork(self.database, entry) as work:
            if new_hash is not None:  # stored with outdated parameters: upgraded now
                await work.completed_by(self._store_hash(work, account.principal, new_hash))
        return account.principal

    async def find_account(self, username: str) -> Account | None:
        """Staff by username; patients by patient id or phone number."""
        username = username.strip()
        if "\x00" in username:
            return None  # PostgreSQL cannot compare text holding NUL: such a name matches nobody
        if staff := await self.accounts.staff_by_username(username):
            principal = staff_principal(staff["id"], staff["username"], staff["role"])
            return Account(principal, staff["password_hash"], staff["is_active"])
        if is_patient_id(username):
            patient = await self.accounts.patient_by_id(username)
        elif PHONE_NO.fullmatch(username):
            patient = await self.accounts.patient_by_phone(username)
        else:
            patient = None
        if patient is None:
            return None
        return Account(patient_principal(patient["id"]), patient["password_hash"], active=True)

    async def active_staff(self, staff_id: int) -> Principal | None:
        """The staff member with this id, if they still exist and are active (the admin's
        session)."""
        return await _active_staff(self.accounts, staff_id)

    @staticmethod
    async def _store_hash(work: UnitOfWork, principal: Principal, password_hash: str) -> None:
        accounts = AccountRepository(work)
        if principal.is_staff:
            await accounts.set_staff_password_hash(int(principal.id), password_hash)
        else:
            await accounts.set_patient_password_hash(principal.id, password_hash)


def caller_id(claims: TokenClaims) -> int | str | None:
    """The id of the account a token names, as the caller's row is found by; None when its
    subject cannot name one (a staff id out of range, a malformed patient id)."""
    subject = claims.subject
    if claims.kind == "staff":
        if subject.isascii() and subject.isdigit() and int(subject) <= STAFF_ID_MAX:
            return int(subject)
        return None
    return subject if is_patient_id(subject) else None


async def _active_staff(accounts: AccountRepository, staff_id: int) -> Principal | None:
    staff = await accounts.active_staff(staff_id)
    return staff_principal(staff_id, staff["username"], staff["role"]) if staff else None

"""Password resets, as OWASP's Forgot Password cheat sheet has them, for staff and patients.

A request names an account by any of its login names and is always answered alike, in about the
same time (padded to a floor), whether the account exists or not; the mail goes out after the
answer. Its token is random, kept only as its SHA-256, good once and for PASSWORD_RESET_TTL_SECONDS,
and a new request makes the earlier ones worthless. Setting the new password uses the token, stores
the hash and ends every session of the account in one transaction; the owner is then told by mail.

An admin resets a staff member's password this way too (`start`): the link goes to the staff
member's own address, so the admin never chooses or learns the password (and so cannot log in as
the author of psychotherapy notes to read them).
"""

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import urlencode

from app.audit.actions import Action
from app.audit.service import AuditEntry, record_apart
from app.auth.notices import ChangedBy, password_changed
from app.auth.passwords import (
    Attributes,
    check_similarity,
    patient_attributes,
    staff_attributes,
)
from app.auth.permissions import Principal, patient_principal, staff_principal
from app.auth.repository import AccountRepository, ResetRepository
from app.auth.schemas import StaffRow
from app.auth.service import AuthService, SessionsFor, login_entry
from app.auth.sessions import digest
from app.auth.staff import OWN_PASSWORD
from app.core.config import Settings
from app.core.errors import (
    NON_FIELD_ERRORS,
    NotFound,
    PermissionDenied,
    Throttled,
    ValidationFailed,
)
from app.core.ratelimit import RateLimiter, address_key
from app.core.security import hash_password
from app.db.database import Database
from app.db.query import Executor
from app.mail.templates import Notice
from app.requests.work import UnitOfWork

REQUEST_ACTION = Action.PASSWORD_RESET_REQUEST
CONFIRM_ACTION = Action.PASSWORD_RESET
INVALID_TOKEN = "Invalid or expired token."  # noqa: S105 - a message
# Every request is answered no sooner than this after it came: long enough to hide whether a
# token was made and stored (a few statements) or not.
ANSWER_FLOOR_SECONDS = 0.25
NO_ADDRESS = (
    "This staff member has no e-mail address to send a reset link to. Deactivate the account "
    "if it must be stopped; an operator can set a password on the command line "
    "(python -m app changepassword)."
)
DEACTIVATED = "This staff member is deactivated: reactivate them first."
TOO_MANY_MAILS = "Too many reset links were sent to this account lately; try again later."


@dataclass(frozen=True)
class Holder:
    """An account that can reset its password: where the mail goes, and what the new password
    must not be like."""

    principal: Principal
    email: str | None
    attributes: Attributes


class PasswordResets:
    def __init__(self, database: Database, limiter: RateLimiter, settings: Settings) -> None:
        self.database = database
        self.limiter = limiter
        self.settings = settings

    async def request(
        self, username: str, client_address: str | None, send_later: Callable[[EmailMessage], None]
    ) -> None:
        """Make a token for the account `username` names and hand its mail to `send_later`, if
        the account exists, is active, has an e-mail address and has not had too many mails;
        else nothing. Throttled past the address's or the name's limit. Audited either way."""
        started = time.monotonic()
        address = address_key(client_address)
        try:
            await self.limiter.password_reset_gate(username.strip().lower(), address)
        except Throttled:
            await record_apart(
                self.database, login_entry(REQUEST_ACTION, None, client_address), 429
            )
            raise
        account = await AuthService(self.database, self.limiter).find_account(username)
        entry = login_entry(REQUEST_ACTION, account, client_address)
        holder = (
            None
            if account is None
            else await _holder(self.database, *account.principal.account_ids)
        )
        if (
            holder is None
            or not holder.email
            or not await self.limiter.password_reset_mail(holder.principal.key)
        ):
            await record_apart(self.database, entry, 202)
        else:
            async with UnitOfWork(self.database, entry, status_code=202) as work:
                notice = await self._issue(work, holder.principal, holder.email)
            send_later(notice.message(self.settings.mail_from))
        await asyncio.sleep(max(0.0, ANSWER_FLOOR_SECONDS - (time.monotonic() - started)))

    async def start(self, work: UnitOfWork, admin: Principal, staff_id: int) -> StaffRow:
        """An admin has a reset link mailed to a staff member's own address; the staff member
        (no hash). NotFound; PermissionDenied for the admin themself (their own password needs
        their current one); a ValidationFailed when the account cannot get a link (deactivated,
        no address, too many links lately)."""
        if str(staff_id) == admin.id:
            raise PermissionDenied(OWN_PASSWORD)
        staff = await AccountRepository(work).staff_by_id(staff_id)
        if staff is None:
            raise NotFound
        if not staff["is_active"]:
            raise ValidationFailed.on(NON_FIELD_ERRORS, DEACTIVATED)
        if not staff["email"]:
            raise ValidationFailed.on(NON_FIELD_ERRORS, NO_ADDRESS)
        principal = staff_principal(staff["id"], staff["username"], staff["role"])
        if not await self.limiter.password_reset_mail(principal.key):
            raise ValidationFailed.on(NON_FIELD_ERRORS, TOO_MANY_MAILS)
        work.notify(await self._issue(work, principal, staff["email"]))
        return staff

    async def _issue(self, work: UnitOfWork, principal: Principal, to: str) -> Notice:
        """A new token, the account's only one: the mail that carries it."""
        token = secrets.token_urlsafe(32)
        staff_id, patient_id = principal.account_ids
        await work.begin()
        await ResetRepository(work).replace(
            digest(token),
            staff_id=staff_id,
            patient_id=patient_id,
            lifetime=timedelta(seconds=self.settings.password_reset_ttl_seconds),
        )
        link = f"{self.settings.base_url}/reset-password?{urlencode({'token': token})}"
        values = {
            "link": link,
            "token": token,
            "minutes": self.settings.password_reset_ttl_seconds // 60,
        }
        return Notice("password_reset", to, "password reset", values)

    async def confirm(
        self,
        token: str,
        new_password: str,
        client_address: str | None,
        sessions: SessionsFor,
        send_later: Callable[[EmailMessage], None],
    ) -> None:
        """Set the password of the account `token` was made for, use the token up and end every
        session of the account, together; then the owner is told by mail (`send_later`). A
        ValidationFailed on `token` when it is unknown, used or expired (not audited: nobody is
        known), on `new_password` when it is too like the account's names (audited under the
        account). Throttled past the address's limit."""
        address = address_key(client_address)
        try:
            await self.limiter.password_reset_confirm_gate(address)
        except Throttled:
            await record_apart(
                self.database, login_entry(CONFIRM_ACTION, None, client_address), 429
            )
            raise
        token_digest = digest(token)
        entry = AuditEntry(
            action=CONFIRM_ACTION,
            actor="unknown",
            actor_kind="anonymous",
            patient_id=None,
            client_address=client_address,
        )

        async def send(notices: list[Notice]) -> None:
            for notice in notices:
                send_later(notice.message(self.settings.mail_from))

        async with UnitOfWork(self.database, entry, anonymous=True, send=send) as work:
            resets = ResetRepository(work)
            owner = await resets.account_of(token_digest)
            holder = (
                None
                if owner is None
                else await _holder(work, owner["staff_id"], owner["patient_id"])
            )
            if holder is None:
                raise ValidationFailed.on("token", INVALID_TOKEN)
            principal = holder.principal
            work.act_as(principal.name, principal.kind)
            if not principal.is_staff:
                work.entry.patient_id = principal.id
            check_similarity(new_password, holder.attributes, field="new_password")
            await work.idle()  # no connection held while hashing
            password_hash = await hash_password(new_password)
            await work.begin()
            if await resets.use(token_digest) is None:  # used by a request that came first
                raise ValidationFailed.on("token", INVALID_TOKEN)
            accounts = AccountRepository(work)
            if principal.is_staff:
                await accounts.set_staff_password_hash(int(principal.id), password_hash)
            else:
                await accounts.set_patient_password_hash(principal.id, password_hash)
            await sessions(work).end_all(principal)
            if holder.email:
                work.notify(password_changed(holder.email, ChangedBy.RESET))


async def _holder(
    executor: Executor, staff_id: int | None, patient_id: str | None
) -> Holder | None:
    """The account as a reset knows it; None for a staff member since deactivated (or an
    account gone)."""
    if staff_id is not None:
        staff = await AccountRepository(executor).staff_by_id(staff_id)
        if staff is None or not staff["is_active"]:
            return None
        return Holder(
            staff_principal(staff["id"], staff["username"], staff["role"]),
            staff["email"],
            staff_attributes(staff["username"], staff["email"]),
        )
    assert patient_id is not None
    patient = await ResetRepository(executor).patient_recipient(patient_id)
    if patient is None:
        return None
    return Holder(patient_principal(patient_id), patient["email"], patient_attributes(patient))

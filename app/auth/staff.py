"""Staff accounts: made from the command line (`createstaff`) or by an admin in the admin through
one path (`add_staff`); a password changed by its owner, who gives the current one, or set by an
operator on the command line (`changepassword`); an account deactivated and reactivated by an
admin. An admin never chooses another's password: they have a reset link mailed to its owner
(app.auth.reset).

A new password follows app.auth.passwords (the Password type, and not too like the username or
e-mail address). Changing or setting a password, or deactivating the account, ends every
session of that staff member: a stolen cookie or token stops working with the old password. A
changed password is announced to its owner by mail (app.auth.notices).
"""

from typing import Any, cast

import asyncpg

from app.auth.notices import ChangedBy, password_changed
from app.auth.passwords import check_similarity, staff_attributes
from app.auth.permissions import Principal, staff_principal
from app.auth.reauth import Reauthentication
from app.auth.repository import AccountRepository, StaffRepository
from app.auth.schemas import PasswordChange, PasswordReset, StaffAccountRow, StaffCreate, StaffRow
from app.auth.sessions import Sessions
from app.core.errors import NotFound, PermissionDenied, ValidationFailed
from app.core.security import hash_password
from app.db.query import Executor
from app.requests.work import UnitOfWork

USERNAME_TAKEN = "A staff member with this username already exists."
EMAIL_TAKEN = "A staff member with this e-mail address already exists."
EMAIL_OF_A_PATIENT = (
    "A patient has this e-mail address; an address names one account only (a patient and a "
    "staff member log in and reset their passwords by it)."
)
WRONG_PASSWORD = "Your current password is not correct."  # noqa: S105
NOT_YOURSELF = "You cannot deactivate your own account."
OWN_PASSWORD = "Change your own password with your current one (Change password)."  # noqa: S105


async def add_staff(
    executor: Executor, *, username: str, email: str | None, role: str, password: str
) -> StaffRow:
    """A new active staff member (the command line's and the admin's one path). A taken username
    or e-mail address is a ValidationFailed on its field."""
    password_hash = await hash_password(password)
    try:
        return await StaffRepository(executor).add(
            username=username, email=email, role=role, password_hash=password_hash
        )
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name == "uq_accounts_email_patient":  # migration 0015's trigger
            raise ValidationFailed.on("email", EMAIL_OF_A_PATIENT) from None
        if "email" in (error.constraint_name or ""):
            raise ValidationFailed.on("email", EMAIL_TAKEN) from None
        raise ValidationFailed.on("username", USERNAME_TAKEN) from None


class StaffService:
    """Staff management in an audited unit of work (the admin's)."""

    def __init__(self, work: UnitOfWork, sessions: Sessions) -> None:
        self.work = work
        self.sessions = sessions
        self.staff = StaffRepository(work)

    async def list(self) -> list[StaffRow]:
        return await self.staff.list()

    async def get(self, staff_id: int) -> StaffRow:
        return _without_hash(await self._account(staff_id))

    async def create(self, payload: StaffCreate) -> StaffRow:
        check_similarity(payload.password, staff_attributes(payload.username, payload.email))
        return await add_staff(
            self.work,
            username=payload.username,
            email=payload.email,
            role=payload.role,
            password=payload.password,
        )

    async def change_password(
        self, staff: Principal, payload: PasswordChange, reauthentication: Reauthentication
    ) -> None:
        """The staff member's own password, once their current one is verified (a wrong one is
        a failed login of the account: Throttled past the login's limits)."""
        account = await self._account(int(staff.id))
        await self.work.idle()  # no pooled connection held through the hashes
        current = payload.current_password
        if not await reauthentication.verify(staff, current, account["password_hash"]):
            raise ValidationFailed.on("current_password", WRONG_PASSWORD)
        check_similarity(
            payload.new_password,
            staff_attributes(account["username"], account["email"]),
            field="new_password",
        )
        await self._set_password(account, payload.new_password, ChangedBy.OWNER)

    async def find(self, username: str) -> int:
        """The id of the staff member with this username (the command line names them so)."""
        staff = await AccountRepository(self.work).staff_by_username(username)
        if staff is None:
            raise NotFound
        return staff["id"]

    async def set_password(self, staff_id: int, payload: PasswordReset) -> StaffRow:
        """The command line sets a staff member's password (whoever runs it holds the service's
        keys and database already): the account's owner is told by mail."""
        account = await self._account(staff_id)
        check_similarity(payload.password, staff_attributes(account["username"], account["email"]))
        await self.work.idle()
        await self._set_password(account, payload.password, ChangedBy.OPERATOR)
        return _without_hash(account)

    async def set_active(self, admin: Principal | None, staff_id: int, *, active: bool) -> StaffRow:
        """Deactivate (their sessions end) or reactivate a staff member; an admin never
        themself (None: the command line)."""
        if not active and admin is not None and str(staff_id) == admin.id:
            raise PermissionDenied(NOT_YOURSELF)
        await self.work.begin()
        row = await self.staff.set_active(staff_id, active=active)
        if row is None:
            raise NotFound
        if not active:
            await self.sessions.end_all(_principal(row))
        return row

    async def _account(self, staff_id: int) -> StaffAccountRow:
        account = await self.staff.account(staff_id)
        if account is None:
            raise NotFound
        return account

    async def _set_password(self, account: StaffAccountRow, password: str, by: ChangedBy) -> None:
        password_hash = await hash_password(password)
        await self.work.begin()
        if await self.staff.set_password_hash(account["id"], password_hash) is None:
            raise NotFound
        await self.sessions.end_all(_principal(account))
        if account["email"]:
            self.work.notify(password_changed(account["email"], by))


def _principal(row: StaffRow) -> Principal:
    return staff_principal(row["id"], row["username"], row["role"])


def _without_hash(account: StaffAccountRow) -> StaffRow:
    """The account with its password hash taken out of the row itself (a TypedDict's key
    cannot be deleted as such)."""
    del cast(dict[str, Any], account)["password_hash"]
    return account

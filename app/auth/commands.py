"""The command line's staff accounts: `createsuperuser` and `createstaff`, `changepassword`,
`deactivatestaff` and `activatestaff`. They run the admin's service (app.auth.staff) in an
audited unit of work whose actor is the operator's login name, `cli:<user>`."""

import getpass
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.audit.actions import Action
from app.audit.service import AuditEntry
from app.auth.schemas import PasswordReset, StaffCreate
from app.auth.sessions import Sessions
from app.auth.staff import EMAIL_TAKEN, StaffService
from app.auth.tokens import Tokens
from app.core.config import Settings
from app.core.errors import CommandError, NotFound, ValidationFailed
from app.db.database import open_database
from app.mail.mailer import deliver_notices, mailer_for
from app.mail.templates import Notice
from app.requests.work import UnitOfWork

CLI_ACTOR_KIND = "cli"


def operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container's numeric user)
        return "cli"


@asynccontextmanager
async def _staff(settings: Settings, action: Action) -> AsyncIterator[StaffService]:
    entry = AuditEntry(
        action=action,
        actor=operator(),
        actor_kind=CLI_ACTOR_KIND,
        patient_id=None,
        client_address=None,
    )

    async def send(notices: list[Notice]) -> None:
        await deliver_notices(mailer_for(settings), settings.mail_from, notices)

    async with (
        open_database(settings) as database,
        UnitOfWork(database, entry, send=send) as work,
    ):
        yield StaffService(work, Sessions(work, Tokens(settings), settings))


async def create_staff(
    settings: Settings, *, username: str, password: str, role: str, email: str | None = None
) -> int:
    payload = StaffCreate(username=username, password=password, role=role, email=email)
    try:
        async with _staff(settings, Action.CLI_CREATE_STAFF) as staff:
            created = await staff.create(payload)
    except ValidationFailed as error:
        if error.errors.get("email") == [EMAIL_TAKEN]:
            message = f"A staff member with e-mail address {email!r} already exists."
        elif "username" in error.errors:
            message = f"A staff member with username {username!r} already exists."
        else:
            message = _message(error)
        raise CommandError(message) from None
    staff_id: int = created["id"]
    return staff_id


async def set_password(settings: Settings, *, username: str, password: str) -> None:
    """Set a staff member's password; every session of theirs ends, and they are told by mail
    (when they have an address)."""
    payload = PasswordReset(password=password)
    try:
        async with _staff(settings, Action.CLI_RESET_STAFF_PASSWORD) as staff:
            await staff.set_password(await staff.find(username), payload)
    except NotFound:
        raise CommandError(f"No staff member with username {username!r}.") from None
    except ValidationFailed as error:
        raise CommandError(_message(error)) from None


async def set_active(settings: Settings, *, username: str, active: bool) -> None:
    """Reactivate a staff member, or deactivate them (every session of theirs ends)."""
    action = Action.CLI_ACTIVATE_STAFF if active else Action.CLI_DEACTIVATE_STAFF
    try:
        async with _staff(settings, action) as staff:
            await staff.set_active(None, await staff.find(username), active=active)
    except NotFound:
        raise CommandError(f"No staff member with username {username!r}.") from None


def _message(error: ValidationFailed) -> str:
    return " ".join(f"{field}: {' '.join(messages)}" for field, messages in error.errors.items())

"""What an account's owner is told by mail when their credentials change, whoever changed them
(OWASP's Authentication cheat sheet: notify the user of a password or e-mail change). The mail
says when and by which path, never the password, the new address or anything of the record."""

from datetime import UTC, datetime
from enum import Enum

from app.mail.templates import Notice


class ChangedBy(Enum):
    """Who changed it, as the mail says."""

    OWNER = "by you, with your current password"
    RESET = "with a password reset link sent to this address"
    STAFF = "by a member of the practice's staff"
    OPERATOR = "by an operator on the service's command line"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d at %H:%M")


def password_changed(to: str, by: ChangedBy) -> Notice:
    return Notice("password_changed", to, "password changed", {"when": _now(), "how": by.value})


def email_changed(old_address: str, by: ChangedBy) -> Notice:
    """To the address the account had: a takeover through a changed address is seen there."""
    how = "by you, signed in to your account" if by is ChangedBy.OWNER else by.value
    return Notice("email_changed", old_address, "e-mail changed", {"when": _now(), "how": how})

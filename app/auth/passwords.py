"""The rules a new password follows, as Django's default validators state them: 8 to 64
characters (the Password type), not one of 20,000 common passwords, not entirely numeric, and not
too similar to the account's own name, username, phone number or e-mail address.

The first rules need only the password and run in the schemas; similarity needs the account, so
the service that sets a password calls `check_similarity` with what it knows of the account.
"""

import gzip
import re
from collections.abc import Iterable, Mapping
from difflib import SequenceMatcher
from functools import cache
from pathlib import Path
from typing import cast

from app.core.errors import ValidationFailed
from app.core.fields import error

COMMON_PASSWORDS = Path(__file__).with_name("data") / "common-passwords.txt.gz"
MAX_SIMILARITY = 0.7
TOO_COMMON = "This password is too common."
ENTIRELY_NUMERIC = "This password is entirely numeric."
TOO_SIMILAR = "The password is too similar to the {what}."
# What a patient's password must not be like: their columns, and how a message names them.
PATIENT_ATTRIBUTES = {
    "first_name": "first name",
    "last_name": "last name",
    "phone_no": "phone number",
    "email": "e-mail address",
}
Attributes = list[tuple[str, str | None]]


def patient_attributes(values: Mapping[str, object]) -> Attributes:
    """A patient's names, phone number and e-mail address, from their row (or what a write
    leaves of it): text, or None."""
    return [(what, cast(str | None, values.get(name))) for name, what in PATIENT_ATTRIBUTES.items()]


def staff_attributes(username: str, email: str | None) -> Attributes:
    return [("username", username), ("e-mail address", email)]


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def not_common(password: str) -> str:
    """An AfterValidator of the Password type."""
    if password.lower().strip() in common_passwords():
        raise error("password_too_common", TOO_COMMON)
    if password.isdigit():
        raise error("password_entirely_numeric", ENTIRELY_NUMERIC)
    return password


def too_similar(password: str, attributes: Iterable[tuple[str, str | None]]) -> str | None:
    """The name of the first attribute the password is too like (Django's rule: the whole value
    or any of its words, by difflib's quick ratio), or None."""
    password = password.lower()
    for what, value in attributes:
        if not value:
            continue
        value = value.lower()
        for part in [*re.split(r"\W+", value), value]:
            # A part much shorter than the password cannot reach the ratio: skip the matcher.
            if not part or len(part) * 2 / (len(password) + len(part)) < MAX_SIMILARITY:
                continue
            if SequenceMatcher(a=password, b=part).quick_ratio() >= MAX_SIMILARITY:
                return what
    return None


def check_similarity(
    password: str, attributes: Iterable[tuple[str, str | None]], *, field: str = "password"
) -> None:
    """A ValidationFailed on `field` when the password is too like one of the account's
    attributes, given as (what it is, value) pairs: ("first name", "Alice")."""
    if (what := too_similar(password, attributes)) is not None:
        raise ValidationFailed.on(field, TOO_SIMILAR.format(what=what))

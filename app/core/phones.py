"""One canonical form of a phone number (E.164), so that `+14155550100`, `14155550100` and
`4155550100` are one number, stored, searched and logged in with alike.

Canonical form is not validation: API.md's rule (9-15 digits, an optional leading `+`) decides
what is accepted, and a number the library finds impossible (too short or long for its country,
or of no country it knows) is still accepted, in the deterministic form `+` and its digits. The
library's country metadata only decides which numbers are possible, a matter of length, which
rarely changes between its releases.
"""

from collections import defaultdict
from collections.abc import Iterable

import phonenumbers

from app.core.config import get_settings


def digits_of(value: str) -> str:
    return "".join(ch for ch in value if ch.isascii() and ch.isdigit())


def canonical_phone(value: str, region: str | None = None) -> str:
    """The E.164 form of a number as typed (a national number is of `region`, by default the
    PHONE_DEFAULT_REGION setting); `+` and its digits when it is not a possible number."""
    region = region or get_settings().phone_default_region
    canonical = _canonical_once(value, region)
    # The library strips a trunk prefix ("+27 0…") once a parse: repeated until it is stable,
    # so that the canonical form of a canonical form is itself.
    for _ in range(16):
        again = _canonical_once(canonical, region)
        if again == canonical:
            return canonical
        canonical = again
    return "+" + digits_of(value)


def _canonical_once(value: str, region: str) -> str:
    fallback = "+" + digits_of(value)
    # Typed without its "+", a number may still be international (447911123456): tried second.
    for text, in_region in ((value, region), (fallback, None)):
        try:
            number = phonenumbers.parse(text, in_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            canonical = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            # E.164 has at most 15 digits; the column and its check hold no more.
            if 9 <= len(canonical) - 1 <= 15:
                return canonical
    return fallback


def canonical_forms(
    numbers: Iterable[tuple[str, str]], region: str | None = None
) -> tuple[dict[str, str], list[list[str]]]:
    """For (owner, number as stored) pairs: the new canonical number of each owner whose number
    changes, and the groups of owners (each sorted) whose numbers are one once canonical. An
    owner in a group is left out of the changes: such numbers are never merged silently."""
    owners: dict[str, list[str]] = defaultdict(list)
    stored: dict[str, tuple[str, str]] = {}
    for owner, number in numbers:
        canonical = canonical_phone(number, region)
        owners[canonical].append(owner)
        stored[owner] = (number, canonical)
    clashes = sorted(sorted(group) for group in owners.values() if len(group) > 1)
    clashing = {owner for group in clashes for owner in group}
    changes = {
        owner: canonical
        for owner, (number, canonical) in stored.items()
        if canonical != number and owner not in clashing
    }
    return changes, clashes

"""Recurring series: an RFC 5545 RRULE (weekly only) expanded into occurrences in the clinic's
wall time, so that a series at 09:00 stays at 09:00 across a change to or from daylight saving
time; each occurrence is then booked as an appointment of its own (app.appointments.service)."""

import re
from datetime import UTC, datetime
from itertools import islice
from zoneinfo import ZoneInfo

from dateutil.rrule import WEEKLY, rrule, rrulestr

from app.core.errors import ValidationFailed

MAX_OCCURRENCES = 52
MAX_INTERVAL = 4
ALLOWED_PARTS = frozenset({"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "WKST"})
_UNTIL_RE = re.compile(r"^([0-9]{8})(T([0-9]{6}))?(Z)?$")

Occurrence = tuple[datetime, datetime]


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed.on("rrule", message)


def _parts(text: str) -> dict[str, str]:
    rule = text.strip().removeprefix("RRULE:")
    parts: dict[str, str] = {}
    for part in rule.split(";"):
        name, _, value = part.partition("=")
        name = name.strip().upper()
        if not name or not value:
            raise _refuse("Write the rule as NAME=VALUE pairs, e.g. FREQ=WEEKLY;COUNT=10.")
        if name not in ALLOWED_PARTS:
            raise _refuse(f"{name} is not supported: use FREQ, INTERVAL, COUNT or UNTIL, BYDAY.")
        if name in parts:
            raise _refuse(f"{name} is given twice.")
        parts[name] = value.strip().upper()
    return parts


def _until_in_utc(value: str, zone: ZoneInfo) -> str:
    """UNTIL as UTC (what dateutil wants beside a zoned start): a date or a local time is read
    in the clinic's zone; a date means the end of that day."""
    match = _UNTIL_RE.match(value)
    if match is None:
        raise _refuse("UNTIL must be a date (20260601) or a date-time (20260601T000000Z).")
    day, clock, utc = match.group(1), match.group(3), match.group(4)
    try:
        if utc:
            return value
        local = datetime.strptime(day + (clock or "235959"), "%Y%m%d%H%M%S")
    except ValueError:
        raise _refuse("UNTIL is not a valid date.") from None
    return local.replace(tzinfo=zone).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse(text: str, start: datetime, zone: ZoneInfo) -> rrule:
    """The rule, checked: FREQ=WEEKLY, INTERVAL 1-4, COUNT or UNTIL, optional BYDAY."""
    parts = _parts(text)
    if parts.get("FREQ") != "WEEKLY":
        raise _refuse("Only FREQ=WEEKLY is supported.")
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise _refuse("Give COUNT or UNTIL: a series must end.")
    if "COUNT" in parts and "UNTIL" in parts:
        raise _refuse("Give COUNT or UNTIL, not both.")
    interval = parts.get("INTERVAL", "1")
    if not interval.isdigit() or not 1 <= int(interval) <= MAX_INTERVAL:
        raise _refuse(f"INTERVAL must be 1 to {MAX_INTERVAL}.")
    count = parts.get("COUNT")
    if count is not None and (not count.isdigit() or not 1 <= int(count) <= MAX_OCCURRENCES):
        raise _refuse(f"COUNT must be 1 to {MAX_OCCURRENCES}.")
    if "UNTIL" in parts:
        parts["UNTIL"] = _until_in_utc(parts["UNTIL"], zone)
    normalized = ";".join(f"{name}={value}" for name, value in parts.items())
    try:
        rule = rrulestr(normalized, dtstart=start.astimezone(zone))
    except (ValueError, TypeError, KeyError, IndexError):
        raise _refuse("Not a valid RRULE.") from None
    if not isinstance(rule, rrule) or getattr(rule, "_freq", None) != WEEKLY:
        raise _refuse("Only FREQ=WEEKLY is supported.")
    return rule


def occurrences(text: str, start: datetime, end: datetime, zone: ZoneInfo) -> list[Occurrence]:
    """Each occurrence's [start, end) in UTC: the rule's starts, in the clinic's wall time (a
    start the clocks skip moves forward by the gap), each as long as the first."""
    rule = parse(text, start, zone)
    length = end - start
    starts = list(islice(iter(rule), MAX_OCCURRENCES + 1))
    if len(starts) > MAX_OCCURRENCES:
        raise _refuse(f"A series has at most {MAX_OCCURRENCES} occurrences.")
    if not starts:
        raise _refuse("The rule has no occurrence.")
    result: list[Occurrence] = []
    for local in starts:
        # The wall time in the zone, read again (dateutil keeps the first's offset otherwise).
        instant = local.replace(tzinfo=None).replace(tzinfo=zone).astimezone(UTC)
        result.append((instant, instant + length))
    return result


def clashing(found: list[Occurrence]) -> set[int]:
    """The indexes of occurrences that overlap an earlier one of the same series."""
    ordered = sorted(range(len(found)), key=lambda index: found[index][0])
    clashes: set[int] = set()
    latest_end: datetime | None = None
    for index in ordered:
        begins, ends = found[index]
        if latest_end is not None and begins < latest_end:
            clashes.add(index)
        latest_end = ends if latest_end is None else max(latest_end, ends)
    return clashes

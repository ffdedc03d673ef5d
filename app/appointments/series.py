"""Recurring series: an RFC 5545 RRULE (weekly only) expanded into occurrences in the clinic's
wall time, so that a series at 09:00 stays at 09:00 across a change to or from daylight saving
time; each occurrence is then booked as an appointment of its own (app.appointments.service)."""

import re
from datetime import UTC, datetime
from itertools import islice
from zoneinfo import ZoneInfo

from dateutil.rrule import WEEKLY, rrule, rrulestr

from app.core.errors import ValidationFailed
from app.core.fields import DATETIME_RANGE, in_range

MAX_OCCURRENCES = 52
MAX_INTERVAL = 4
ALLOWED_PARTS = frozenset({"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "WKST"})
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_NUMBER_RE = re.compile(r"[0-9]{1,3}")
_UNTIL_RE = re.compile(r"^([0-9]{8})(T([0-9]{6}))?(Z)?$")

Occurrence = tuple[datetime, datetime]


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed.on("rrule", message)


def _parts(text: str) -> dict[str, str]:
    rule = text.strip()
    if rule[:6].upper() == "RRULE:":
        rule = rule[6:]
    parts: dict[str, str] = {}
    for part in rule.split(";"):
        name, _, value = part.partition("=")
        name = name.strip().upper()
        if not name or not value.strip():
            raise _refuse("Write the rule as NAME=VALUE pairs, e.g. FREQ=WEEKLY;COUNT=10.")
        if name not in ALLOWED_PARTS:
            raise _refuse(
                f"{name} is not supported: use FREQ, INTERVAL, COUNT or UNTIL, BYDAY, WKST."
            )
        if name in parts:
            raise _refuse(f"{name} is given twice.")
        parts[name] = value.strip().upper()
    return parts


def _number(parts: dict[str, str], name: str, most: int) -> None:
    value = parts.get(name)
    if value is not None and not (_NUMBER_RE.fullmatch(value) and 1 <= int(value) <= most):
        raise _refuse(f"{name} must be a whole number from 1 to {most}.")


def _weekdays(parts: dict[str, str]) -> None:
    """BYDAY: weekdays, comma-separated; WKST: one weekday. A weekly rule's BYDAY has no
    ordinals (1MO, -1FR), which RFC 5545 allows only in monthly and yearly rules."""
    for day in parts.get("BYDAY", "MO").split(","):
        if day.strip() not in WEEKDAYS:
            raise _refuse(
                "BYDAY must list weekdays (MO, TU, WE, TH, FR, SA, SU), comma-separated, "
                f"e.g. BYDAY=MO,TH; {day.strip() or 'an empty one'} is none."
            )
    if parts.get("WKST", "MO") not in WEEKDAYS:
        raise _refuse("WKST must be one weekday: MO, TU, WE, TH, FR, SA or SU.")


def _until_in_utc(value: str, zone: ZoneInfo) -> str:
    """UNTIL as UTC (what dateutil wants beside a zoned start): a date or a local time is read
    in the clinic's zone; a date means the end of that day."""
    match = _UNTIL_RE.match(value)
    if match is None:
        raise _refuse("UNTIL must be a date (20260601) or a date-time (20260601T000000Z).")
    day, clock, utc = match.group(1), match.group(3), match.group(4)
    try:
        written = datetime.strptime(day + (clock or "235959"), "%Y%m%d%H%M%S")
    except ValueError:
        raise _refuse("UNTIL is not a valid date.") from None
    if not in_range(written):
        raise _refuse(f"UNTIL: {DATETIME_RANGE}")
    if utc:
        return value
    return written.replace(tzinfo=zone).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse(text: str, start: datetime, zone: ZoneInfo) -> rrule:
    """The rule, checked part by part (each fault named), then as a whole: FREQ=WEEKLY,
    INTERVAL 1-4, COUNT or UNTIL, optional BYDAY and WKST."""
    parts = _parts(text)
    if "FREQ" not in parts:
        raise _refuse("FREQ is required: FREQ=WEEKLY.")
    if parts["FREQ"] != "WEEKLY":
        raise _refuse("Only FREQ=WEEKLY is supported.")
    _number(parts, "INTERVAL", MAX_INTERVAL)
    _number(parts, "COUNT", MAX_OCCURRENCES)
    _weekdays(parts)
    if "UNTIL" in parts:
        parts["UNTIL"] = _until_in_utc(parts["UNTIL"], zone)
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise _refuse("Give COUNT or UNTIL: a series must end.")
    if "COUNT" in parts and "UNTIL" in parts:
        raise _refuse("Give COUNT or UNTIL, not both.")
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
    first = start.astimezone(zone)
    result: list[Occurrence] = []
    for local in starts:
        # The wall time in the zone, read again (dateutil keeps the first's offset otherwise).
        # The first keeps the showing it was sent at: 02:30 +01:00 on the autumn night is the
        # second 02:30, which the wall time alone would read as the first, an hour earlier.
        wall = local.replace(tzinfo=None)
        fold = first.fold if wall == first.replace(tzinfo=None) else 0
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
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

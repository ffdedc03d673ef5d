"""A therapist's weekly hours as instants: wall-clock hours in the clinic's time zone, turned
into UTC periods one local date at a time, so a week that changes to or from daylight saving
time keeps 09:00 at 09:00."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Period = tuple[datetime, datetime]
"""[start, end) in UTC."""


@dataclass(frozen=True)
class Stretch:
    """One stretch of weekly hours: an ISO weekday (1 is Monday) from `starts` to `ends`."""

    weekday: int
    starts: time
    ends: time


def local_instant(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The instant a wall clock in `zone` shows `clock` on `day`, in UTC. A time the clocks skip
    (02:30 on the spring change) is moved forward by the gap (03:30), as RFC 5545 reads it; one
    they show twice (02:30 on the autumn change) is its first occurrence."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def working_periods(
    stretches: Iterable[Stretch], zone: ZoneInfo, start: datetime, end: datetime
) -> list[Period]:
    """The periods of work in [start, end), in UTC, merged where they touch and clipped to it."""
    by_weekday: dict[int, list[Stretch]] = {}
    for stretch in stretches:
        by_weekday.setdefault(stretch.weekday, []).append(stretch)
    periods: list[Period] = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    while day <= last:
        for stretch in by_weekday.get(day.isoweekday(), ()):
            begins = local_instant(day, stretch.starts, zone)
            ends = local_instant(day, stretch.ends, zone)
            begins, ends = max(begins, start), min(ends, end)
            if begins < ends:
                periods.append((begins, ends))
        day += timedelta(days=1)
    return merge(periods)


def merge(periods: Iterable[Period]) -> list[Period]:
    """The union of the periods, sorted, with touching ones joined."""
    merged: list[Period] = []
    for begins, ends in sorted(periods):
        if merged and begins <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], ends))
        else:
            merged.append((begins, ends))
    return merged


def subtract(periods: Iterable[Period], taken: Iterable[Period]) -> list[Period]:
    """What is left of `periods` once every period of `taken` is removed."""
    left = merge(periods)
    for cut_start, cut_end in merge(taken):
        remaining: list[Period] = []
        for begins, ends in left:
            if cut_end <= begins or ends <= cut_start:
                remaining.append((begins, ends))
                continue
            if begins < cut_start:
                remaining.append((begins, cut_start))
            if cut_end < ends:
                remaining.append((cut_end, ends))
        left = remaining
    return left


def covers(periods: Iterable[Period], start: datetime, end: datetime) -> bool:
    """Whether one of the (merged) periods holds all of [start, end)."""
    return any(begins <= start and end <= ends for begins, ends in merge(periods))


def on_grid(instant: datetime, zone: ZoneInfo, step: int) -> datetime:
    """The first instant at or after `instant` whose wall clock in `zone` shows a whole multiple
    of `step` minutes since midnight (09:00, 09:15, … for 15). A time the clocks skip moves past
    the gap; in the hour shown twice the grid follows the occurrence `instant` is in."""
    local = instant.astimezone(zone)
    minutes = local.hour * 60 + local.minute + (1 if local.second or local.microsecond else 0)
    minutes = -(-minutes // step) * step
    day = local.date() + timedelta(days=minutes // 1440)
    minutes %= 1440
    clock = time(minutes // 60, minutes % 60, fold=local.fold if day == local.date() else 0)
    candidate = datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)
    while candidate < instant:  # only around a change of offset
        candidate += timedelta(minutes=step)
    return candidate


def slots(free: Iterable[Period], zone: ZoneInfo, duration: int, step: int) -> list[Period]:
    """Every [start, start + duration) on the `step`-minute grid of the wall clock that fits in
    one of the free periods."""
    length = timedelta(minutes=duration)
    found: list[Period] = []
    for begins, ends in free:
        start = on_grid(begins, zone, step)
        while start + length <= ends:
            found.append((start, start + length))
            start = on_grid(start + timedelta(minutes=step), zone, step)
    return found

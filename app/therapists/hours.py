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


def _minute_of_day(local: datetime) -> int:
    return local.hour * 60 + local.minute


def _shown_twice(local: datetime) -> bool:
    """Whether the wall clock shows this time twice (the hour the clocks go back)."""
    return local.replace(fold=1).utcoffset() != local.replace(fold=0).utcoffset()


def on_grid(instant: datetime, zone: ZoneInfo, step: int) -> datetime:
    """The first instant at or after `instant` whose wall clock in `zone` shows a whole multiple
    of `step` minutes since midnight (09:00, 09:15, … for 15). A time the clocks skip is not on
    the clock, so not on the grid; in the hour shown twice, both are."""
    local = instant.astimezone(zone)
    # From an hour of wall clock back: in the hour shown twice, a time the clock shows before
    # `instant`'s may come after it in fact.
    earliest = local - timedelta(hours=1) if local.fold == 0 and _shown_twice(local) else local
    minutes = _minute_of_day(earliest) + (1 if local.second or local.microsecond else 0)
    minutes = -(-minutes // step) * step
    day = earliest.date()
    best: datetime | None = None
    while True:
        day += timedelta(days=minutes // 1440)
        minutes %= 1440
        for fold in (0, 1):
            wall = datetime.combine(day, time(minutes // 60, minutes % 60, fold=fold), tzinfo=zone)
            found = wall.astimezone(UTC)
            shown = found.astimezone(zone)
            if (shown.date(), _minute_of_day(shown)) != (day, minutes):
                continue  # a time the clocks skip
            if found >= instant and (best is None or found < best):
                best = found
        # A later wall time is at most an hour (a change of offset) earlier in fact.
        if best is not None and wall.astimezone(UTC) > best + timedelta(hours=2):
            return best
        minutes += step


def _next_on_grid(start: datetime, zone: ZoneInfo, step: int) -> datetime:
    """The grid's next instant after `start`, which is on it: usually `step` minutes later,
    sooner after the clocks go forward, and the hour shown twice is not skipped."""
    later = start + timedelta(minutes=step)
    local = later.astimezone(zone)
    if _minute_of_day(local) % step == 0:
        if local.utcoffset() == start.astimezone(zone).utcoffset():
            return later  # the clock moved by `step` too: no grid point between
        return min(later, on_grid(start + timedelta(minutes=1), zone, step))
    return on_grid(start + timedelta(minutes=1), zone, step)


def slots(free: Iterable[Period], zone: ZoneInfo, duration: int, step: int) -> list[Period]:
    """Every [start, start + duration) on the `step`-minute grid of the wall clock that fits in
    one of the free periods."""
    length = timedelta(minutes=duration)
    found: list[Period] = []
    for begins, ends in free:
        start = on_grid(begins, zone, step)
        while start + length <= ends:
            found.append((start, start + length))
            start = _next_on_grid(start, zone, step)
    return found

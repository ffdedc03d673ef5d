from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from app.therapists.hours import Stretch, covers, local_instant, merge, subtract, working_periods

BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_nine_oclock_stays_nine_oclock_across_the_spring_change() -> None:
    # 2026-03-29: Berlin moves from UTC+1 to UTC+2 at 02:00.
    week = [Stretch(weekday, time(9), time(17)) for weekday in range(1, 8)]
    periods = working_periods(week, BERLIN, utc(2026, 3, 28), utc(2026, 3, 31))
    assert periods == [
        (utc(2026, 3, 28, 8), utc(2026, 3, 28, 16)),
        (utc(2026, 3, 29, 7), utc(2026, 3, 29, 15)),
        (utc(2026, 3, 30, 7), utc(2026, 3, 30, 15)),
    ]


def test_nine_oclock_stays_nine_oclock_across_the_autumn_change() -> None:
    # 2026-10-25: back to UTC+1 at 03:00.
    sunday = [Stretch(7, time(9), time(10))]
    assert working_periods(sunday, BERLIN, utc(2026, 10, 25), utc(2026, 10, 26)) == [
        (utc(2026, 10, 25, 8), utc(2026, 10, 25, 9))
    ]


def test_a_skipped_wall_time_moves_past_the_gap_and_a_repeated_one_is_its_first() -> None:
    assert local_instant(date(2026, 3, 29), time(2, 30), BERLIN) == utc(2026, 3, 29, 1, 30)
    night = [Stretch(7, time(1), time(4))]
    # 01:00 CET is 00:00 UTC; 04:00 CEST is 02:00 UTC: two hours of work that night.
    assert working_periods(night, BERLIN, utc(2026, 3, 28), utc(2026, 3, 30)) == [
        (utc(2026, 3, 29, 0), utc(2026, 3, 29, 2))
    ]
    # 2026-10-25: 01:00 CEST is 23:00 UTC the day before; 04:00 CET is 03:00 UTC: four hours.
    assert working_periods(night, BERLIN, utc(2026, 10, 24), utc(2026, 10, 26)) == [
        (utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))
    ]


def test_periods_are_clipped_to_the_window_and_joined_where_they_touch() -> None:
    monday = [Stretch(1, time(9), time(12)), Stretch(1, time(12), time(13))]
    assert working_periods(monday, BERLIN, utc(2026, 1, 5, 9), utc(2026, 1, 5, 20)) == [
        (utc(2026, 1, 5, 9), utc(2026, 1, 5, 12))
    ]


def test_subtract_and_covers() -> None:
    day = [(utc(2026, 1, 5, 8), utc(2026, 1, 5, 16))]
    left = subtract(
        day, [(utc(2026, 1, 5, 10), utc(2026, 1, 5, 11)), (utc(2026, 1, 5, 15), utc(2026, 1, 6))]
    )
    assert left == [
        (utc(2026, 1, 5, 8), utc(2026, 1, 5, 10)),
        (utc(2026, 1, 5, 11), utc(2026, 1, 5, 15)),
    ]
    assert covers(left, utc(2026, 1, 5, 8), utc(2026, 1, 5, 10))
    assert not covers(left, utc(2026, 1, 5, 9), utc(2026, 1, 5, 11))
    assert merge([]) == []

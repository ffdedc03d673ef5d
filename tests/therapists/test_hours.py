from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from app.therapists.hours import (
    Stretch,
    covers,
    local_instant,
    merge,
    on_grid,
    slots,
    subtract,
    working_periods,
)

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


def test_the_grid_is_the_wall_clocks_from_midnight() -> None:
    # 09:07 CEST is 07:07 UTC: the next quarter is 09:15, a 45-minute grid's next is 09:45.
    assert on_grid(utc(2026, 6, 1, 7, 7), BERLIN, 15) == utc(2026, 6, 1, 7, 15)
    assert on_grid(utc(2026, 6, 1, 7, 7), BERLIN, 45) == utc(2026, 6, 1, 7, 45)
    assert on_grid(utc(2026, 6, 1, 7, 15), BERLIN, 15) == utc(2026, 6, 1, 7, 15)
    # 23:50 CEST on a 45-minute grid: 24:00 is the next day's 00:00 (22:00 UTC).
    assert on_grid(utc(2026, 6, 1, 21, 50), BERLIN, 45) == utc(2026, 6, 1, 22, 0)


def test_the_grid_keeps_to_the_wall_clock_across_a_change() -> None:
    # 2026-10-25: 02:00-03:00 is shown twice; its second 02:10 (01:10 UTC) is followed by 02:15.
    assert on_grid(utc(2026, 10, 25, 1, 10), BERLIN, 15) == utc(2026, 10, 25, 1, 15)
    # 2026-03-29: 02:00-03:00 is skipped; 01:50 CET (00:50 UTC) is followed by 03:00 CEST.
    assert on_grid(utc(2026, 3, 29, 0, 50), BERLIN, 15) == utc(2026, 3, 29, 1, 0)
    # A 45-minute grid across the spring change: 01:30, then 03:00 (02:15 does not exist), 03:45.
    night = [(utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 3, 0))]
    assert [start for start, _ in slots(night, BERLIN, 45, 45)] == [
        utc(2026, 3, 29, 0, 30),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 29, 1, 45),
    ]


def test_the_hour_shown_twice_is_on_the_grid_twice() -> None:
    # 2026-10-25: 00:00 UTC is 02:00 CEST, 01:00 UTC is 02:00 CET, 02:00 UTC is 03:00 CET.
    night = [(utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 2, 30))]
    assert [start for start, _ in slots(night, BERLIN, 30, 30)] == [
        utc(2026, 10, 25, 0, 0),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 1, 0),
        utc(2026, 10, 25, 1, 30),
        utc(2026, 10, 25, 2, 0),
    ]
    assert [start for start, _ in slots(night, BERLIN, 30, 45)] == [
        utc(2026, 10, 25, 0, 15),  # 02:15 CEST
        utc(2026, 10, 25, 1, 15),  # 02:15 CET
        utc(2026, 10, 25, 2, 0),  # 03:00 CET
    ]


def test_slots_fit_in_the_free_periods() -> None:
    free = [
        (utc(2026, 1, 5, 8, 5), utc(2026, 1, 5, 9, 0)),
        (utc(2026, 1, 5, 9, 30), utc(2026, 1, 5, 10)),
    ]
    assert slots(free, BERLIN, 30, 15) == [
        (utc(2026, 1, 5, 8, 15), utc(2026, 1, 5, 8, 45)),
        (utc(2026, 1, 5, 8, 30), utc(2026, 1, 5, 9, 0)),
        (utc(2026, 1, 5, 9, 30), utc(2026, 1, 5, 10, 0)),
    ]

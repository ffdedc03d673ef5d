"""A frozen clock for the scheduling rules that read `datetime.now`: the notice period of a
cancellation and the free slots' "never before now". A rule at its edge (exactly 24 hours, a
slot starting this very microsecond) can only be tested at an instant that does not move."""

import asyncio
from datetime import UTC, datetime, tzinfo

import pytest

# The modules whose rules read the clock.
MODULES = ("app.appointments.service", "app.therapists.service")


def freeze(monkeypatch: pytest.MonkeyPatch, instant: datetime) -> None:
    """Make `datetime.now` in the scheduling services answer `instant` until the test ends."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> "Frozen":
            shown = instant.astimezone(tz or UTC)
            return cls.combine(shown.date(), shown.timetz())

    for module in MODULES:
        monkeypatch.setattr(f"{module}.datetime", Frozen)


async def within_one_rate_window(seconds: float = 5.0, period: int = 60) -> None:
    """Waits, if need be, until a burst of `seconds` cannot cross the boundary of a limit's
    window (a minute, or `period` seconds: an hour's limit turns at the hour). The rate limits
    count in sliding windows approximated from two fixed ones (limits' SlidingWindowCounter):
    just past a boundary the previous window's hits are weighed a little under one, so ten
    failures straddling it count as 9.99, and the tenth does not yet refuse."""
    into = datetime.now(UTC).timestamp() % period
    if into > period - seconds:
        await asyncio.sleep(period - into + 0.05)

"""A frozen clock for the scheduling rules that read `datetime.now`: the notice period of a
cancellation and the free slots' "never before now". A rule at its edge (exactly 24 hours, a
slot starting this very microsecond) can only be tested at an instant that does not move."""

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

"""Therapists' reads and writes, for the API and the admin alike: who may change a therapist
(an admin, or the therapist themself), their week and time off written in one transaction, and
the free slots left for booking."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.auth.permissions import Principal, may_manage_therapist, may_set_npi
from app.core.errors import NotFound, PermissionDenied, ValidationFailed
from app.db.counting import Count
from app.requests.work import UnitOfWork
from app.therapists import hours
from app.therapists.repository import TherapistRepository
from app.therapists.schemas import (
    DEFAULT_WINDOW_DAYS,
    MAX_WINDOW_DAYS,
    AvailabilityQuery,
    TherapistListQuery,
    TherapistRow,
    TimeOffCreate,
    TimeOffRow,
)

TO_AFTER_FROM = "Must be after from."
WINDOW_TOO_LONG = f"The window may be at most {MAX_WINDOW_DAYS} days."
END_AFTER_START = "Must be after start."


@dataclass(frozen=True)
class Availability:
    therapist_id: int
    duration: int
    slots: list[hours.Period]


class TherapistService:
    """Runs in a unit of work; each method's last statement completes it (with its audit event)."""

    def __init__(self, work: UnitOfWork) -> None:
        self.work = work
        self.therapists = TherapistRepository(work)

    async def count(self, query: TherapistListQuery, *, exact_up_to: int | None) -> Count:
        return await self.therapists.count(query.is_active, exact_up_to=exact_up_to)

    async def page(
        self, query: TherapistListQuery, *, offset: int, limit: int
    ) -> list[TherapistRow]:
        return await self.work.completed_by(
            self.therapists.page(query.is_active, query.ordering_term(), offset=offset, limit=limit)
        )

    async def get(self, therapist_id: int) -> TherapistRow:
        therapist = await self.work.completed_by(self.therapists.read(therapist_id))
        if therapist is None:
            raise NotFound
        return therapist

    async def update(
        self, actor: Principal, therapist_id: int, changes: Mapping[str, str | None]
    ) -> TherapistRow:
        """Change the display name (admins, or the therapist themself) and the NPI (admins
        only; None clears it); `{}` changes nothing."""
        self._check_may_change(actor, therapist_id)
        if "npi" in changes and not may_set_npi(actor):
            raise PermissionDenied
        display_name = changes.get("display_name")
        if display_name is None and "npi" not in changes:
            return await self.get(therapist_id)
        await self.work.begin()
        therapist = await self.work.completed_by(
            self.therapists.update(
                therapist_id, display_name, changes.get("npi"), set_npi="npi" in changes
            )
        )
        if therapist is None:
            raise NotFound
        return therapist

    async def stretches(self, therapist_id: int) -> list[hours.Stretch]:
        await self._exists(therapist_id)
        return await self.work.completed_by(self.therapists.stretches(therapist_id))

    async def replace_stretches(
        self, actor: Principal, therapist_id: int, week: list[hours.Stretch]
    ) -> list[hours.Stretch]:
        """Replace the whole week, in one transaction."""
        await self._locked(actor, therapist_id)
        return await self.work.completed_by(self.therapists.replace_stretches(therapist_id, week))

    async def count_time_off(self, therapist_id: int, *, exact_up_to: int | None) -> Count:
        await self._exists(therapist_id)
        return await self.therapists.count_time_off(therapist_id, exact_up_to=exact_up_to)

    async def time_off(self, therapist_id: int, *, offset: int, limit: int) -> list[TimeOffRow]:
        return await self.work.completed_by(
            self.therapists.time_off(therapist_id, offset=offset, limit=limit)
        )

    async def add_time_off(
        self, actor: Principal, therapist_id: int, time_off: TimeOffCreate
    ) -> TimeOffRow:
        if time_off.end <= time_off.start:
            raise ValidationFailed.on("end", END_AFTER_START)
        await self._locked(actor, therapist_id)
        return await self.work.completed_by(
            self.therapists.add_time_off(
                therapist_id, time_off.start, time_off.end, time_off.reason
            )
        )

    async def remove_time_off(self, actor: Principal, therapist_id: int, time_off_id: int) -> None:
        await self._locked(actor, therapist_id)
        if not await self.work.completed_by(
            self.therapists.remove_time_off(therapist_id, time_off_id)
        ):
            raise NotFound

    async def availability(
        self,
        therapist_id: int,
        query: AvailabilityQuery,
        *,
        zone: ZoneInfo,
        buffer_minutes: int,
        now: datetime | None = None,
    ) -> Availability:
        """The free starts in the window: the weekly hours, less time off, less every active
        appointment widened by the buffer on both sides; on the wall clock's grid of `step`
        minutes, and never before now."""
        now = now or datetime.now(UTC)
        start = query.start or now
        end = query.end or start + timedelta(days=DEFAULT_WINDOW_DAYS)
        if end <= start:
            raise ValidationFailed.on("to", TO_AFTER_FROM)
        if end - start > timedelta(days=MAX_WINDOW_DAYS):
            raise ValidationFailed.on("to", WINDOW_TOO_LONG)
        start = max(start, now)
        therapist = await self.therapists.get(therapist_id)
        if therapist is None:
            raise NotFound
        if end <= start or not therapist["is_active"]:
            return Availability(therapist_id, query.duration, [])
        buffer = timedelta(minutes=buffer_minutes)
        working = hours.working_periods(
            await self.therapists.stretches(therapist_id), zone, start, end
        )
        if working:
            off = await self.therapists.time_off_between(therapist_id, start, end)
            working = hours.subtract(working, off)
        if working:
            taken = await self.work.completed_by(
                self.therapists.taken(therapist_id, start - buffer, end + buffer)
            )
            working = hours.subtract(
                working, [(begins - buffer, ends + buffer) for begins, ends in taken]
            )
        found = hours.slots(working, zone, query.duration, query.step)
        return Availability(therapist_id, query.duration, found)

    async def _exists(self, therapist_id: int) -> None:
        if await self.therapists.get(therapist_id) is None:
            raise NotFound

    async def _locked(self, actor: Principal, therapist_id: int) -> None:
        """Begin the write's transaction with the therapist's row locked (404 when none)."""
        self._check_may_change(actor, therapist_id)
        await self.work.begin()
        if not await self.therapists.lock(therapist_id):
            raise NotFound

    @staticmethod
    def _check_may_change(actor: Principal, therapist_id: int) -> None:
        if not may_manage_therapist(actor, therapist_id):
            raise PermissionDenied

"""The SQL of therapists: staff with the therapist role, their weekly hours and time off."""

from datetime import datetime

from sqlalchemy import bindparam, select

from app.db.query import Executor, Query, Row
from app.models.scheduling import TherapistHours, TherapistTimeOff
from app.models.staff import Staff
from app.therapists.hours import Stretch

_THERAPIST = Query(
    select(Staff.id, Staff.username, Staff.is_active).where(
        Staff.id == bindparam("id"), Staff.role == "therapist"
    )
)
_HOURS = Query(
    select(TherapistHours.weekday, TherapistHours.starts, TherapistHours.ends)
    .where(TherapistHours.therapist_id == bindparam("therapist_id"))
    .order_by(TherapistHours.weekday, TherapistHours.starts)
)
_TIME_OFF_BETWEEN = Query(
    select(TherapistTimeOff.starts_at, TherapistTimeOff.ends_at)
    .where(
        TherapistTimeOff.therapist_id == bindparam("therapist_id"),
        TherapistTimeOff.ends_at > bindparam("start"),
        TherapistTimeOff.starts_at < bindparam("end"),
    )
    .order_by(TherapistTimeOff.starts_at)
)


class TherapistRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def get(self, therapist_id: int) -> Row | None:
        """The therapist (active or not); None when no staff member with that id is one."""
        return await self.executor.fetch_one(_THERAPIST, id=therapist_id)

    async def stretches(self, therapist_id: int) -> list[Stretch]:
        rows = await self.executor.fetch(_HOURS, therapist_id=therapist_id)
        return [Stretch(row["weekday"], row["starts"], row["ends"]) for row in rows]

    async def time_off_between(
        self, therapist_id: int, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        rows = await self.executor.fetch(
            _TIME_OFF_BETWEEN, therapist_id=therapist_id, start=start, end=end
        )
        return [(row["starts_at"], row["ends_at"]) for row in rows]

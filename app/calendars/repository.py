"""The SQL of calendar feeds: the secrets' digests, and the appointments a feed shows."""

from datetime import datetime

from sqlalchemy import bindparam, delete, func, literal, select
from sqlalchemy.dialects.postgresql import insert

from app.calendars.schemas import EventRow, FeedRow, FeedTherapistIdRow
from app.db.query import Executor, Query
from app.models.patient import Patient, kept
from app.models.scheduling import Appointment, CalendarFeed
from app.models.staff import Staff

_insert = insert(CalendarFeed).values(
    therapist_id=bindparam("therapist_id"), digest=bindparam("digest")
)
# One feed a therapist: a new secret replaces the old one, which stops working at once.
_REPLACE = Query(
    _insert.on_conflict_do_update(
        index_elements=[CalendarFeed.therapist_id],
        set_={"digest": _insert.excluded.digest, "created_at": func.now()},
    ).returning(CalendarFeed.therapist_id),
    FeedTherapistIdRow,
)
_REVOKE = Query(
    delete(CalendarFeed)
    .where(CalendarFeed.therapist_id == bindparam("therapist_id"))
    .returning(CalendarFeed.therapist_id),
    FeedTherapistIdRow,
)
# By the digest of the secret (a unique index): what an attacker may time is a lookup of a
# SHA-256, which says nothing about how close a guess came.
_FEED = Query(
    select(
        CalendarFeed.therapist_id,
        func.coalesce(Staff.display_name, Staff.username).label("therapist"),
    )
    .join(Staff, Staff.id == CalendarFeed.therapist_id)
    .where(CalendarFeed.digest == bindparam("digest"), Staff.is_active.is_(True)),
    FeedRow,
)


def _events(named: bool) -> Query[EventRow]:
    patient = (
        (Patient.first_name + literal(" ") + Patient.last_name).label("patient")
        if named
        else Appointment.patient_id.label("patient")
    )
    statement = (
        select(
            Appointment.id,
            Appointment.starts_at,
            Appointment.ends_at,
            Appointment.kind,
            Appointment.status,
            Appointment.version,
            Appointment.updated_at,
            patient,
        )
        .where(
            Appointment.therapist_id == bindparam("therapist_id"),
            kept(Appointment.patient_id),
            Appointment.starts_at >= bindparam("start"),
            Appointment.starts_at < bindparam("end"),
        )
        .order_by(Appointment.starts_at, Appointment.id)
    )
    if named:
        statement = statement.join(Patient, Patient.id == Appointment.patient_id)
    return Query(statement, EventRow)


_EVENTS = _events(named=False)
_EVENTS_NAMED = _events(named=True)


class CalendarRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def replace(self, therapist_id: int, digest: str) -> FeedTherapistIdRow | None:
        return await self.executor.fetch_one(_REPLACE, therapist_id=therapist_id, digest=digest)

    async def revoke(self, therapist_id: int) -> FeedTherapistIdRow | None:
        return await self.executor.fetch_one(_REVOKE, therapist_id=therapist_id)

    async def feed(self, digest: str) -> FeedRow | None:
        """The therapist whose feed has this secret's digest; None when none has (any more)."""
        return await self.executor.fetch_one(_FEED, digest=digest)

    async def appointments(
        self, therapist_id: int, start: datetime, end: datetime, *, named: bool
    ) -> list[EventRow]:
        query = _EVENTS_NAMED if named else _EVENTS
        return await self.executor.fetch(query, therapist_id=therapist_id, start=start, end=end)

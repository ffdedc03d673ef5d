"""All SQL of appointments and series. Statements are compiled once (the list once per shape of
its filters); nothing here commits: the unit of work does."""

from datetime import datetime
from functools import lru_cache
from typing import Any, cast

import asyncpg
from sqlalchemy import (
    BigInteger,
    String,
    Table,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import TIMESTAMP as PG_TIMESTAMP
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.appointments.schemas import (
    AppointmentListQuery,
    AppointmentRow,
    IdRow,
    PartyLocksRow,
    PartyLocksServiceRow,
    SeriesRow,
    StaffNameRow,
)
from app.db.counting import Count, Counting
from app.db.query import Executor, NoRow, Query
from app.models.patient import VERSION_SEQUENCE, kept
from app.models.payments import BillableService
from app.models.scheduling import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentReminder,
    AppointmentSeries,
    scheduling_locks,
)
from app.models.staff import Staff

APPOINTMENTS = cast(Table, Appointment.__table__)
COLUMNS = [column for column in APPOINTMENTS.c if column.key != "created_by"]
CREATED = (
    "patient_id",
    "therapist_id",
    "starts_at",
    "ends_at",
    "kind",
    "status",
    "note",
    "series_id",
    "service_id",
    "outside_availability",
    "created_by",
)
# The exclusion constraints of migration 0009, and who it is that is already busy.
OVERLAP_CONSTRAINTS = {
    "no_overlap_for_therapist": "therapist",
    "no_overlap_for_patient": "patient",
}
UTC_TIMESTAMP = PG_TIMESTAMP(timezone=True)


def _param(name: str) -> Any:
    return bindparam(name, type_=APPOINTMENTS.c[name].type)


def _among(column: Any, values: tuple[str, ...]) -> Any:
    """`column IN ('a', 'b')`, the values in the statement (compiled once, no expansion)."""
    return column.in_([literal_column(f"'{value}'") for value in values])


def _range(start: Any, end: Any) -> Any:
    return func.tstzrange(start, end, literal_column("'[)'"))


_LOCKS = scheduling_locks(
    bindparam("therapist_id", type_=APPOINTMENTS.c.therapist_id.type),
    bindparam("patient_id", type_=String),
)
_LOCK_PARTIES = Query(_LOCKS, PartyLocksRow)
# A write that names a billable service checks it in the statement that takes the locks: no
# round trip of its own. A service deleted later is kept, and the appointment keeps naming it.
_SERVICE_NAMED = exists().where(
    BillableService.id == bindparam("service_id", type_=BigInteger),
    BillableService.deleted_at.is_(None),
)
_LOCK_PARTIES_CHECKING_SERVICE = Query(
    _LOCKS.add_columns(_SERVICE_NAMED.label("service")), PartyLocksServiceRow
)
# A deleted patient's appointments are not found, nor listed.
_THIS = (Appointment.id == bindparam("id"), kept(Appointment.patient_id))
_GET = Query(select(*COLUMNS).where(*_THIS), AppointmentRow)
_GET_FOR_UPDATE = Query(select(*COLUMNS).where(*_THIS).with_for_update(), AppointmentRow)
_INSERT = Query(
    insert(APPOINTMENTS).values({name: _param(name) for name in CREATED}).returning(*COLUMNS),
    AppointmentRow,
)
_STAFF_NAME = Query(
    select(func.coalesce(Staff.display_name, Staff.username).label("name")).where(
        Staff.id == bindparam("id")
    ),
    StaffNameRow,
)
_due = bindparam("due_at", type_=UTC_TIMESTAMP)
_REMINDER = Query(
    pg_insert(AppointmentReminder)
    .values(
        appointment_id=bindparam("appointment_id", type_=BigInteger),
        starts_at=bindparam("starts_at", type_=UTC_TIMESTAMP),
        dedupe_key=bindparam("dedupe_key", type_=String),
        due_at=_due,
        next_attempt_at=_due,
    )
    .on_conflict_do_nothing(index_elements=[AppointmentReminder.dedupe_key])
    .returning(AppointmentReminder.id),
    IdRow,
)


def _overlapping(who: str) -> Query[IdRow]:
    column = Appointment.therapist_id if who == "therapist" else Appointment.patient_id
    value = bindparam("who", type_=column.type)
    return Query(
        select(Appointment.id)
        .where(
            column == value,
            _among(Appointment.status, ACTIVE_STATUSES),
            Appointment.id != bindparam("exclude", type_=BigInteger),
            _range(Appointment.starts_at, Appointment.ends_at).op("&&")(
                _range(
                    bindparam("start", type_=UTC_TIMESTAMP), bindparam("end", type_=UTC_TIMESTAMP)
                )
            ),
        )
        .order_by(Appointment.starts_at, Appointment.id)
        .limit(1),
        IdRow,
    )


_OVERLAPPING = {who: _overlapping(who) for who in ("therapist", "patient")}
# A failed INSERT or UPDATE aborts the transaction; rolled back to its savepoint, the
# transaction goes on (to name the appointment it clashed with, or to book the next one).
_SAVEPOINT = Query(text("SAVEPOINT appointment_write"), NoRow)
_ROLLBACK_TO_SAVEPOINT = Query(text("ROLLBACK TO SAVEPOINT appointment_write"), NoRow)
_RELEASE_SAVEPOINT = Query(text("RELEASE SAVEPOINT appointment_write"), NoRow)


@lru_cache(maxsize=64)
def _update(columns: tuple[str, ...]) -> Query[AppointmentRow]:
    return Query(
        update(Appointment)
        .where(Appointment.id == bindparam("id"))
        .values(
            {
                **{name: _param(name) for name in columns},
                "updated_at": func.now(),
                "version": VERSION_SEQUENCE.next_value(),
            }
        )
        .returning(*COLUMNS),
        AppointmentRow,
    )


Shape = tuple[bool, bool, bool, bool, bool]


def _filters(query: AppointmentListQuery, patient: str | None) -> tuple[Shape, dict[str, Any]]:
    params: dict[str, Any] = {}
    if query.therapist is not None:
        params["therapist"] = query.therapist
    if patient is not None:
        params["patient"] = patient
    if query.status:
        params["statuses"] = list(dict.fromkeys(query.status))
    if query.start_after is not None:
        params["start_after"] = query.start_after
    if query.start_before is not None:
        params["start_before"] = query.start_before
    shape = cast(
        Shape,
        tuple(
            name in params
            for name in ("therapist", "patient", "statuses", "start_after", "start_before")
        ),
    )
    return shape, params


def _where(therapist: bool, patient: bool, statuses: bool, after: bool, before: bool) -> list[Any]:
    conditions: list[Any] = [kept(Appointment.patient_id)]
    if therapist:
        conditions.append(Appointment.therapist_id == bindparam("therapist"))
    if patient:
        conditions.append(Appointment.patient_id == bindparam("patient"))
    if statuses:
        conditions.append(
            Appointment.status == func.any(bindparam("statuses", type_=ARRAY(String)))
        )
    if after:
        conditions.append(Appointment.starts_at >= bindparam("start_after", type_=UTC_TIMESTAMP))
    if before:
        conditions.append(Appointment.starts_at < bindparam("start_before", type_=UTC_TIMESTAMP))
    return conditions


@lru_cache(maxsize=128)
def _counting(shape: Shape) -> Counting:
    return Counting(select(Appointment.id).where(*_where(*shape)))


@lru_cache(maxsize=256)
def _page(shape: Shape, column: str, descending: bool) -> Query[AppointmentRow]:
    attribute = APPOINTMENTS.c[{"start": "starts_at"}.get(column, column)]
    order = attribute.desc() if descending else attribute.asc()
    tie = Appointment.id.desc() if descending else Appointment.id.asc()
    statement = (
        select(*COLUMNS)
        .where(*_where(*shape))
        .order_by(order, tie)
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
    )
    return Query(statement, AppointmentRow)


SERIES = cast(Table, AppointmentSeries.__table__)
_INSERT_SERIES = Query(
    insert(SERIES)
    .values(
        rrule=bindparam("rrule", type_=String),
        patient_id=bindparam("patient_id", type_=String),
        therapist_id=bindparam("therapist_id"),
        service_id=bindparam("service_id", type_=BigInteger),
        created_by=bindparam("created_by", type_=String),
    )
    .returning(*SERIES.c),
    SeriesRow,
)
_GET_SERIES = Query(select(*SERIES.c).where(AppointmentSeries.id == bindparam("id")), SeriesRow)
_SERIES_APPOINTMENTS = Query(
    select(*COLUMNS)
    .where(Appointment.series_id == bindparam("series_id"))
    .order_by(Appointment.starts_at, Appointment.id),
    AppointmentRow,
)
_CANCEL_SERIES = Query(
    update(Appointment)
    .where(
        Appointment.series_id == bindparam("series_id"),
        _among(Appointment.status, ("proposed", "booked")),
        Appointment.starts_at >= bindparam("start", type_=UTC_TIMESTAMP),
    )
    .values(
        status=literal_column("'cancelled'"),
        cancellation_reason=_param("cancellation_reason"),
        updated_at=func.now(),
        version=VERSION_SEQUENCE.next_value(),
    )
    .returning(Appointment.id),
    IdRow,
)


class Overlap(Exception):
    """An active appointment of the same therapist (or patient) holds some of the time."""

    def __init__(self, who: str, conflicting: int | None) -> None:
        super().__init__(who)
        self.who = who
        self.conflicting = conflicting


class AppointmentRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def lock_parties(
        self, therapist_id: int, patient_id: str, *, service: int | None = None
    ) -> bool:
        """Take the therapist's and the patient's scheduling locks (app.models.scheduling) until
        the transaction ends: before a write of their appointments writes or locks a row. False
        when `service` is given and no billable service that is not deleted has that id."""
        if service is None:
            await self.executor.fetch(
                _LOCK_PARTIES, therapist_id=therapist_id, patient_id=patient_id
            )
            return True
        row = await self.executor.fetch_one(
            _LOCK_PARTIES_CHECKING_SERVICE,
            therapist_id=therapist_id,
            patient_id=patient_id,
            service_id=service,
        )
        assert row is not None, "a SELECT without FROM answers one row"
        return row["service"]

    async def get(self, appointment_id: int, *, for_update: bool = False) -> AppointmentRow | None:
        query = _GET_FOR_UPDATE if for_update else _GET
        return await self.executor.fetch_one(query, id=appointment_id)

    async def staff_name(self, staff_id: int) -> str | None:
        row = await self.executor.fetch_one(_STAFF_NAME, id=staff_id)
        return None if row is None else row["name"]

    async def insert(self, values: dict[str, Any]) -> AppointmentRow:
        """Insert an appointment (in a transaction); Overlap when PostgreSQL refuses it."""
        row = await self._guarded(_INSERT, values, values)
        assert row is not None
        return row

    async def update(self, current: AppointmentRow, values: dict[str, Any]) -> AppointmentRow:
        """Change these columns of the (locked) appointment, in a transaction; Overlap when
        PostgreSQL refuses it."""
        query = _update(tuple(sorted(values)))
        row = await self._guarded(query, {**values, "id": current["id"]}, {**current, **values})
        assert row is not None
        return row

    async def plan_reminder(
        self, appointment_id: int, starts_at: datetime, due_at: datetime
    ) -> None:
        """The reminders' outbox row of this appointment at this start (once per start)."""
        key = f"appointment:{appointment_id}:{int(starts_at.timestamp())}"
        await self.executor.fetch(
            _REMINDER,
            appointment_id=appointment_id,
            starts_at=starts_at,
            dedupe_key=key,
            due_at=due_at,
        )

    async def overlapping(
        self, who: str, value: Any, start: datetime, end: datetime, *, exclude: int = 0
    ) -> int | None:
        """The first active appointment of this therapist or patient overlapping [start, end)."""
        row = await self.executor.fetch_one(
            _OVERLAPPING[who], who=value, start=start, end=end, exclude=exclude
        )
        return None if row is None else row["id"]

    async def insert_series(
        self,
        rrule: str,
        patient_id: str,
        therapist_id: int,
        service_id: int | None,
        created_by: str,
    ) -> SeriesRow:
        row = await self.executor.fetch_one(
            _INSERT_SERIES,
            rrule=rrule,
            patient_id=patient_id,
            therapist_id=therapist_id,
            service_id=service_id,
            created_by=created_by,
        )
        assert row is not None
        return row

    async def get_series(self, series_id: int) -> SeriesRow | None:
        return await self.executor.fetch_one(_GET_SERIES, id=series_id)

    async def series_appointments(self, series_id: int) -> list[AppointmentRow]:
        return await self.executor.fetch(_SERIES_APPOINTMENTS, series_id=series_id)

    async def cancel_series(self, series_id: int, start: datetime, reason: str | None) -> int:
        rows = await self.executor.fetch(
            _CANCEL_SERIES, series_id=series_id, start=start, cancellation_reason=reason
        )
        return len(rows)

    async def list(
        self, query: AppointmentListQuery, patient: str | None, *, offset: int, limit: int
    ) -> list[AppointmentRow]:
        shape, params = _filters(query, patient)
        column, descending = query.ordering_term()
        page = _page(shape, column, descending)
        return await self.executor.fetch(page, **params, offset=offset, limit=limit)

    async def count(
        self, query: AppointmentListQuery, patient: str | None, *, exact_up_to: int | None
    ) -> Count:
        shape, params = _filters(query, patient)
        return await _counting(shape).count(self.executor, params, exact_up_to=exact_up_to)

    async def _guarded(
        self, query: Query[AppointmentRow], params: dict[str, Any], written: dict[str, Any]
    ) -> AppointmentRow | None:
        """Run a write that PostgreSQL may refuse for an overlap, in a savepoint: refused, the
        transaction is rolled back to it, and the appointment it overlaps (with `written`, the
        appointment as the write would leave it) is looked up."""
        await self.executor.fetch(_SAVEPOINT)
        try:
            row = await self.executor.fetch_one(query, **params)
        except asyncpg.ExclusionViolationError as violation:
            await self.executor.fetch(_ROLLBACK_TO_SAVEPOINT)
            who = OVERLAP_CONSTRAINTS.get(violation.constraint_name or "")
            if who is None:
                raise
            conflicting = await self.overlapping(
                who,
                written[f"{who}_id"],
                written["starts_at"],
                written["ends_at"],
                exclude=int(written.get("id") or 0),
            )
            raise Overlap(who, conflicting) from None
        await self.executor.fetch(_RELEASE_SAVEPOINT)
        return row

"""The SQL of therapists: staff with the therapist role, their weekly hours and time off, and
the appointments that hold their time."""

from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    SmallInteger,
    String,
    Table,
    Time,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP

from app.db.counting import Count, Counting
from app.db.query import Executor, Query
from app.models.scheduling import (
    ACTIVE_STATUSES,
    Appointment,
    TherapistHours,
    TherapistTimeOff,
    scheduling_locks,
)
from app.models.staff import Staff
from app.therapists.hours import Period, Stretch
from app.therapists.schemas import (
    HoursRow,
    IdRow,
    PeriodRow,
    TherapistAccountRow,
    TherapistLockRow,
    TherapistRow,
    TimeOffRow,
)

HOURS_TABLE = cast(Table, TherapistHours.__table__)
DISPLAY_NAME = func.coalesce(Staff.display_name, Staff.username)
_IS_THERAPIST = Staff.role == "therapist"
_COLUMNS = (Staff.id, DISPLAY_NAME.label("display_name"), Staff.is_active, Staff.npi)

_THERAPIST = Query(
    select(Staff.id, Staff.username, Staff.is_active).where(
        Staff.id == bindparam("id"), _IS_THERAPIST
    ),
    TherapistAccountRow,
)
_READ = Query(select(*_COLUMNS).where(Staff.id == bindparam("id"), _IS_THERAPIST), TherapistRow)
# Taken before a therapist's hours or time off change: writes for one therapist queue up.
_LOCK = Query(
    select(Staff.id).where(Staff.id == bindparam("id"), _IS_THERAPIST).with_for_update(), IdRow
)
_LOCK_SCHEDULE = Query(scheduling_locks(bindparam("id", type_=Staff.id.type)), TherapistLockRow)
# A null display name leaves it; the NPI changes only when `set_npi` (null clears it).
_UPDATE = Query(
    update(Staff)
    .where(Staff.id == bindparam("id"), _IS_THERAPIST)
    .values(
        display_name=func.coalesce(bindparam("display_name", type_=String), Staff.display_name),
        npi=case(
            (bindparam("set_npi", type_=Boolean), bindparam("npi", type_=String)),
            else_=Staff.npi,
        ),
        updated_at=func.now(),
    )
    .returning(*_COLUMNS),
    TherapistRow,
)
_HOURS = Query(
    select(TherapistHours.weekday, TherapistHours.starts, TherapistHours.ends)
    .where(TherapistHours.therapist_id == bindparam("therapist_id"))
    .order_by(TherapistHours.weekday, TherapistHours.starts),
    HoursRow,
)
_CLEAR_HOURS = Query(
    delete(TherapistHours)
    .where(TherapistHours.therapist_id == bindparam("therapist_id"))
    .returning(TherapistHours.id),
    IdRow,
)
_week = select(
    func.unnest(bindparam("weekdays", type_=ARRAY(SmallInteger))).label("weekday"),
    func.unnest(bindparam("starts", type_=ARRAY(Time))).label("starts"),
    func.unnest(bindparam("ends", type_=ARRAY(Time))).label("ends"),
).subquery("week")
_SET_HOURS = Query(
    insert(HOURS_TABLE)
    .from_select(
        ["therapist_id", "weekday", "starts", "ends"],
        select(
            bindparam("therapist_id", type_=BigInteger),
            _week.c.weekday,
            _week.c.starts,
            _week.c.ends,
        ),
    )
    .returning(HOURS_TABLE.c.weekday, HOURS_TABLE.c.starts, HOURS_TABLE.c.ends),
    HoursRow,
)
_TIME_OFF_BETWEEN = Query(
    select(TherapistTimeOff.starts_at, TherapistTimeOff.ends_at)
    .where(
        TherapistTimeOff.therapist_id == bindparam("therapist_id"),
        TherapistTimeOff.ends_at > bindparam("start"),
        TherapistTimeOff.starts_at < bindparam("end"),
    )
    .order_by(TherapistTimeOff.starts_at),
    PeriodRow,
)
_TIME_OFF_COLUMNS = (
    TherapistTimeOff.id,
    TherapistTimeOff.starts_at,
    TherapistTimeOff.ends_at,
    TherapistTimeOff.reason,
    TherapistTimeOff.created_at,
)
_TIME_OFF_OF = TherapistTimeOff.therapist_id == bindparam("therapist_id")
_TIME_OFF_COUNT = Counting(select(TherapistTimeOff.id).where(_TIME_OFF_OF))
_TIME_OFF_PAGE = Query(
    select(*_TIME_OFF_COLUMNS)
    .where(_TIME_OFF_OF)
    .order_by(TherapistTimeOff.starts_at, TherapistTimeOff.id)
    .offset(bindparam("offset"))
    .limit(bindparam("limit")),
    TimeOffRow,
)
_ADD_TIME_OFF = Query(
    insert(TherapistTimeOff)
    .values(
        therapist_id=bindparam("therapist_id"),
        starts_at=bindparam("start"),
        ends_at=bindparam("end"),
        reason=bindparam("reason"),
    )
    .returning(*_TIME_OFF_COLUMNS),
    TimeOffRow,
)
_REMOVE_TIME_OFF = Query(
    delete(TherapistTimeOff)
    .where(TherapistTimeOff.id == bindparam("id"), _TIME_OFF_OF)
    .returning(TherapistTimeOff.id),
    IdRow,
)


def _range(start: Any, end: Any) -> Any:
    return func.tstzrange(start, end, literal_column("'[)'"))


# The very expression and predicate of the exclusion constraint no_overlap_for_therapist, with
# constants as they are written there, so that its GiST index (therapist_id, range) finds the
# few appointments of one therapist in the window among millions.
_ACTIVE = Appointment.status.in_([literal_column(f"'{status}'") for status in ACTIVE_STATUSES])
_TAKEN = Query(
    select(Appointment.starts_at, Appointment.ends_at)
    .where(
        Appointment.therapist_id == bindparam("therapist_id"),
        _range(Appointment.starts_at, Appointment.ends_at).op("&&")(
            _range(
                bindparam("start", type_=TIMESTAMP(timezone=True)),
                bindparam("end", type_=TIMESTAMP(timezone=True)),
            )
        ),
        _ACTIVE,
    )
    .order_by(Appointment.starts_at),
    PeriodRow,
)


@lru_cache(maxsize=8)
def _listing(
    active_filter: bool, column: str, descending: bool
) -> tuple[Counting, Query[TherapistRow]]:
    """The list's count and page, compiled once per filter and ordering."""
    conditions = [_IS_THERAPIST]
    if active_filter:
        conditions.append(Staff.is_active == bindparam("is_active"))
    key = DISPLAY_NAME if column == "display_name" else Staff.id
    page = (
        select(*_COLUMNS)
        .where(*conditions)
        .order_by(key.desc() if descending else key.asc(), Staff.id)
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
    )
    return Counting(select(Staff.id).where(*conditions)), Query(page, TherapistRow)


class TherapistRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def get(self, therapist_id: int) -> TherapistAccountRow | None:
        """The therapist (active or not); None when no staff member with that id is one."""
        return await self.executor.fetch_one(_THERAPIST, id=therapist_id)

    async def read(self, therapist_id: int) -> TherapistRow | None:
        """The therapist as the API shows them (id, display_name, is_active, npi)."""
        return await self.executor.fetch_one(_READ, id=therapist_id)

    async def lock(self, therapist_id: int) -> bool:
        """Lock the therapist's row until the transaction ends; False when there is none. Their
        scheduling lock first (app.models.scheduling), in the order every write of their
        appointments takes its locks: a booking's foreign-key check waits on this row."""
        await self.executor.fetch(_LOCK_SCHEDULE, id=therapist_id)
        return await self.executor.fetch_one(_LOCK, id=therapist_id) is not None

    async def update(
        self, therapist_id: int, display_name: str | None, npi: str | None, *, set_npi: bool
    ) -> TherapistRow | None:
        """Set the display name (None: kept) and, when `set_npi`, the NPI (None: cleared)."""
        return await self.executor.fetch_one(
            _UPDATE, id=therapist_id, display_name=display_name, npi=npi, set_npi=set_npi
        )

    async def page(
        self, is_active: bool | None, ordering: tuple[str, bool], *, offset: int, limit: int
    ) -> list[TherapistRow]:
        _, page = _listing(is_active is not None, *ordering)
        params = {} if is_active is None else {"is_active": is_active}
        return await self.executor.fetch(page, **params, offset=offset, limit=limit)

    async def count(self, is_active: bool | None, *, exact_up_to: int | None) -> Count:
        counting, _ = _listing(is_active is not None, "id", False)
        params = {} if is_active is None else {"is_active": is_active}
        return await counting.count(self.executor, params, exact_up_to=exact_up_to)

    async def stretches(self, therapist_id: int) -> list[Stretch]:
        rows = await self.executor.fetch(_HOURS, therapist_id=therapist_id)
        return [Stretch(row["weekday"], row["starts"], row["ends"]) for row in rows]

    async def replace_stretches(self, therapist_id: int, week: list[Stretch]) -> list[Stretch]:
        """Replace the therapist's whole week (in the caller's transaction)."""
        await self.executor.fetch(_CLEAR_HOURS, therapist_id=therapist_id)
        rows = await self.executor.fetch(
            _SET_HOURS,
            therapist_id=therapist_id,
            weekdays=[stretch.weekday for stretch in week],
            starts=[stretch.starts for stretch in week],
            ends=[stretch.ends for stretch in week],
        )
        week = [Stretch(row["weekday"], row["starts"], row["ends"]) for row in rows]
        return sorted(week, key=lambda stretch: (stretch.weekday, stretch.starts))

    async def time_off_between(
        self, therapist_id: int, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        rows = await self.executor.fetch(
            _TIME_OFF_BETWEEN, therapist_id=therapist_id, start=start, end=end
        )
        return [(row["starts_at"], row["ends_at"]) for row in rows]

    async def time_off(self, therapist_id: int, *, offset: int, limit: int) -> list[TimeOffRow]:
        """The therapist's time off, by start."""
        return await self.executor.fetch(
            _TIME_OFF_PAGE, therapist_id=therapist_id, offset=offset, limit=limit
        )

    async def count_time_off(self, therapist_id: int, *, exact_up_to: int | None) -> Count:
        return await _TIME_OFF_COUNT.count(
            self.executor, {"therapist_id": therapist_id}, exact_up_to=exact_up_to
        )

    async def add_time_off(
        self, therapist_id: int, start: datetime, end: datetime, reason: str | None
    ) -> TimeOffRow:
        row = await self.executor.fetch_one(
            _ADD_TIME_OFF, therapist_id=therapist_id, start=start, end=end, reason=reason
        )
        assert row is not None
        return row

    async def remove_time_off(self, therapist_id: int, time_off_id: int) -> bool:
        """Delete one stretch of the therapist's time off; False when they have no such one."""
        removed = await self.executor.fetch_one(
            _REMOVE_TIME_OFF, therapist_id=therapist_id, id=time_off_id
        )
        return removed is not None

    async def taken(self, therapist_id: int, start: datetime, end: datetime) -> list[Period]:
        """The therapist's active appointments that overlap [start, end), by start."""
        rows = await self.executor.fetch(_TAKEN, therapist_id=therapist_id, start=start, end=end)
        return [(row["starts_at"], row["ends_at"]) for row in rows]

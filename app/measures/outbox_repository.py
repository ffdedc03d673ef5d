"""The SQL of the measures' two outboxes, as the worker runs them: the requests
(measure_requests, planned before appointments and mailed to the patient) and the alerts' mails
(alert_notices), with the escalation of the safety alerts and the insert that raises one.

Every statement of the worker commits by itself or in a short transaction of its own: a worker
holds no lock while it talks to a mail server. A claimed row is the worker's while its lease
lasts (`leased_until` in the future) and while `attempts` is still the number it claimed it
with: every later statement of that worker names both, so a worker whose lease ran out (another
took the row since) changes nothing.

Time is the caller's `now` (a parameter, not the database's clock), so that a cycle can be run
at any instant; the worker passes the wall clock.

Rows are declared here rather than in a schemas.py: nothing else reads them.
"""

from datetime import datetime, timedelta
from typing import TypedDict, TypeVar

from sqlalchemy import (
    BigInteger,
    Integer,
    Interval,
    String,
    and_,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.elements import ColumnElement, SQLColumnExpression

from app.db.query import Executor, Query
from app.models.measures import AlertNotice, MeasureAssignment, MeasureRequest, SafetyAlert
from app.models.patient import Patient
from app.models.scheduling import Appointment
from app.models.staff import Staff

Q = MeasureRequest
M = MeasureAssignment
N = AlertNotice
A = SafetyAlert
_NOW = bindparam("now", type_=TIMESTAMP(timezone=True))
_LEASE = bindparam("lease", type_=Interval)
_MINUTE = literal_column("interval '1 minute'", type_=Interval)
# Appointment statuses that take it off the calendar: its requests are cancelled.
GONE = ("cancelled", "noshow", "entered-in-error")
# Appointments that count for `every_nth`: those that took or will take place.
COUNTED = ("booked", "arrived", "checked-in", "fulfilled")
# After this many failed attempts at a `notify` notice, its alert escalates at once.
NOTIFY_ATTEMPTS_BEFORE_ESCALATION = 3


class IdRow(TypedDict):
    id: int


class ReleasedRow(TypedDict):
    released: int


class AlertIdRow(TypedDict):
    alert_id: int


class ClaimedRequestRow(TypedDict):
    id: int
    appointment_id: int | None
    attempts: int


class RequestAtSendTimeRow(TypedDict):
    """A request at send time (its lease renewed), its appointment as it is now (all null once
    gone, or for a request of no appointment) and where it would be due now."""

    id: int
    appointment_id: int | None
    due_at: datetime
    expires_at: datetime
    appointment_status: str | None
    planned_due_at: datetime | None
    email: str | None
    deleted_at: datetime | None


class ClaimedNoticeRow(TypedDict):
    id: int
    alert_id: int
    kind: str
    attempts: int


class NoticeAtSendTimeRow(TypedDict):
    """A notice at send time (its lease renewed), with its recipient as they are now (null: the
    staff member was deleted)."""

    id: int
    alert_id: int
    kind: str
    staff_id: int | None
    is_active: bool | None
    email: str | None


class LiveNoticesRow(TypedDict):
    id: int
    notices: int


def _due_at(starts_at: SQLColumnExpression[datetime]) -> ColumnElement[datetime]:
    """An appointment's start less the lead, as an absolute duration (minutes, never days)."""
    return starts_at - M.lead_minutes * _MINUTE


def _expires_at(
    starts_at: SQLColumnExpression[datetime], ends_at: SQLColumnExpression[datetime]
) -> ColumnElement[datetime]:
    return func.least(_due_at(starts_at) + M.expires_after_minutes * _MINUTE, ends_at)


def _one_of(column: SQLColumnExpression[str], values: tuple[str, ...]) -> ColumnElement[bool]:
    return column == func.any(literal(list(values), type_=ARRAY(String)))


def _unleased(leased_until: SQLColumnExpression[datetime | None]) -> ColumnElement[bool]:
    return or_(leased_until.is_(None), leased_until <= _NOW)


# --- Requests -------------------------------------------------------------------------------

# Each assignment's candidate appointments, numbered from its creation by start (for every_nth).
_CANDIDATES = (
    select(
        M.id.label("assignment_id"),
        M.patient_id,
        M.instrument,
        Appointment.id.label("appointment_id"),
        Appointment.status,
        Appointment.starts_at,
        _due_at(Appointment.starts_at).label("due_at"),
        _expires_at(Appointment.starts_at, Appointment.ends_at).label("expires_at"),
        M.schedule,
        M.every,
        func.row_number()
        .over(partition_by=M.id, order_by=(Appointment.starts_at, Appointment.id))
        .label("position"),
    )
    .join(Appointment, Appointment.patient_id == M.patient_id)
    .join(Patient, Patient.id == M.patient_id)
    .where(
        M.ended_at.is_(None),
        _one_of(M.schedule, ("before_each", "every_nth")),
        Patient.deleted_at.is_(None),
        _one_of(Appointment.status, COUNTED),
        Appointment.starts_at >= M.created_at,
        Appointment.starts_at <= _NOW + bindparam("horizon", type_=Interval),
    )
    .subquery("candidates")
)
C = _CANDIDATES.c
# One request per assignment and appointment (the unique index): planning twice plans once.
_PLAN = Query(
    pg_insert(Q)
    .from_select(
        ["assignment_id", "patient_id", "instrument", "appointment_id", "due_at", "expires_at"],
        select(
            C.assignment_id, C.patient_id, C.instrument, C.appointment_id, C.due_at, C.expires_at
        ).where(
            C.status == "booked",
            C.starts_at > _NOW,
            C.expires_at > _NOW,
            or_(C.schedule == "before_each", (C.position - 1) % C.every == 0),
        ),
    )
    .on_conflict_do_nothing()
    .returning(Q.id),
    IdRow,
)

# A scheduled request of a moved appointment (or of a changed lead time) is due anew.
_REPLAN = Query(
    update(Q)
    .where(
        Q.status == "scheduled",
        Q.appointment_id == Appointment.id,
        Q.assignment_id == M.id,
        Appointment.status == "booked",
        or_(
            Q.due_at != _due_at(Appointment.starts_at),
            Q.expires_at != _expires_at(Appointment.starts_at, Appointment.ends_at),
        ),
        _unleased(Q.leased_until),
    )
    .values(
        due_at=_due_at(Appointment.starts_at),
        expires_at=_expires_at(Appointment.starts_at, Appointment.ends_at),
        attempts=0,
        next_attempt_at=null(),
        leased_until=null(),
    )
    .returning(Q.id),
    IdRow,
)

# Scheduled requests of an appointment taken off the calendar, or of an ended assignment.
_CANCEL = Query(
    update(Q)
    .where(
        Q.status == "scheduled",
        _unleased(Q.leased_until),
        or_(
            exists().where(Appointment.id == Q.appointment_id, _one_of(Appointment.status, GONE)),
            exists().where(M.id == Q.assignment_id, M.ended_at.is_not(None)),
        ),
    )
    .values(status="cancelled", leased_until=null())
    .returning(Q.id),
    IdRow,
)

# Unanswered requests past their time (not one a worker holds: it finds out itself).
_EXPIRE = Query(
    update(Q)
    .where(
        _one_of(Q.status, ("scheduled", "sent")), Q.expires_at <= _NOW, _unleased(Q.leased_until)
    )
    .values(status="expired", leased_until=null())
    .returning(Q.id),
    IdRow,
)

# Requests whose last attempt's worker died with it, out of attempts: failed.
_EXHAUSTED = Query(
    update(Q)
    .where(
        Q.status == "scheduled",
        Q.attempts >= bindparam("max_attempts"),
        _unleased(Q.leased_until),
    )
    .values(status="failed", leased_until=null())
    .returning(Q.id),
    IdRow,
)

_DUE_REQUESTS = (
    select(Q.id)
    .where(
        Q.status == "scheduled",
        Q.due_at <= _NOW,
        Q.expires_at > _NOW,
        or_(Q.next_attempt_at.is_(None), Q.next_attempt_at <= _NOW),
        _unleased(Q.leased_until),
        Q.attempts < bindparam("max_attempts"),
    )
    .order_by(Q.due_at, Q.id)
    .limit(bindparam("batch"))
    .with_for_update(skip_locked=True)
)
# Due requests leased to the caller: two workers never claim the same one (SKIP LOCKED), and
# one that dies leaves its requests to the others when the lease ends.
_CLAIM_REQUESTS = Query(
    update(Q)
    .where(Q.id.in_(_DUE_REQUESTS.scalar_subquery()))
    .values(leased_until=_NOW + _LEASE, attempts=Q.attempts + 1)
    .returning(Q.id, Q.appointment_id, Q.attempts),
    ClaimedRequestRow,
)


def _request_held() -> ColumnElement[bool]:
    return and_(
        Q.id == bindparam("id"), Q.attempts == bindparam("attempts"), Q.status == "scheduled"
    )


_RENEW_REQUEST = (
    update(Q)
    .where(_request_held())
    .values(leased_until=_NOW + _LEASE)
    .returning(Q.id, Q.appointment_id, Q.assignment_id, Q.patient_id, Q.due_at, Q.expires_at)
    .cte("renewed")
)
R = _RENEW_REQUEST.c
_REQUEST_AT_SEND_TIME = Query(
    select(
        R.id,
        R.appointment_id,
        R.due_at,
        R.expires_at,
        Appointment.status.label("appointment_status"),
        _due_at(Appointment.starts_at).label("planned_due_at"),
        Patient.email,
        Patient.deleted_at,
    )
    .select_from(_RENEW_REQUEST)
    .join(Patient, Patient.id == R.patient_id)
    .outerjoin(Appointment, Appointment.id == R.appointment_id)
    .outerjoin(M, M.id == R.assignment_id),
    RequestAtSendTimeRow,
)

_REQUEST_SENT = Query(
    update(Q)
    .where(_request_held())
    .values(status="sent", sent_at=_NOW, leased_until=null())
    .returning(Q.id),
    IdRow,
)
_REQUEST_ENDED = Query(
    update(Q)
    .where(_request_held())
    .values(status=bindparam("status"), leased_until=null())
    .returning(Q.id),
    IdRow,
)
_REQUEST_RETRY = Query(
    update(Q)
    .where(_request_held())
    .values(next_attempt_at=_NOW + bindparam("delay", type_=Interval), leased_until=null())
    .returning(Q.id),
    IdRow,
)
# A claimed request the worker did not send (it is stopping, or the appointment moved): due
# again at once, its attempt not counted.
_REQUEST_RELEASE = Query(
    update(Q)
    .where(_request_held())
    .values(leased_until=null(), attempts=Q.attempts - 1)
    .returning(literal_column("1").label("released")),
    ReleasedRow,
)


# --- Alert notices --------------------------------------------------------------------------

_DUE_NOTICES = (
    select(N.id)
    .where(N.status == "pending", N.next_attempt_at <= _NOW, _unleased(N.leased_until))
    .order_by(N.next_attempt_at, N.id)
    .limit(bindparam("batch"))
    .with_for_update(skip_locked=True)
)
_CLAIM_NOTICES = Query(
    update(N)
    .where(N.id.in_(_DUE_NOTICES.scalar_subquery()))
    .values(leased_until=_NOW + _LEASE, attempts=N.attempts + 1)
    .returning(N.id, N.alert_id, N.kind, N.attempts),
    ClaimedNoticeRow,
)


def _notice_held() -> ColumnElement[bool]:
    return and_(N.id == bindparam("id"), N.attempts == bindparam("attempts"), N.status == "pending")


_RENEW_NOTICE = (
    update(N)
    .where(_notice_held())
    .values(leased_until=_NOW + _LEASE)
    .returning(N.id, N.alert_id, N.kind, N.staff_id)
    .cte("renewed")
)
_NOTICE_AT_SEND_TIME = Query(
    select(
        _RENEW_NOTICE.c.id,
        _RENEW_NOTICE.c.alert_id,
        _RENEW_NOTICE.c.kind,
        _RENEW_NOTICE.c.staff_id,
        Staff.is_active,
        Staff.email,
    )
    .select_from(_RENEW_NOTICE)
    .outerjoin(Staff, Staff.id == _RENEW_NOTICE.c.staff_id),
    NoticeAtSendTimeRow,
)
_NOTICE_SENT = Query(
    update(N)
    .where(_notice_held())
    .values(status="sent", sent_at=_NOW, leased_until=null())
    .returning(N.id),
    IdRow,
)
_NOTICE_UNDELIVERABLE = Query(
    update(N)
    .where(_notice_held())
    .values(status="undeliverable", leased_until=null())
    .returning(N.id),
    IdRow,
)
_NOTICE_RETRY = Query(
    update(N)
    .where(_notice_held())
    .values(next_attempt_at=_NOW + bindparam("delay", type_=Interval), leased_until=null())
    .returning(N.id),
    IdRow,
)
_NOTICE_RELEASE = Query(
    update(N)
    .where(_notice_held())
    .values(leased_until=null(), attempts=N.attempts - 1)
    .returning(literal_column("1").label("released")),
    ReleasedRow,
)

# An open alert whose therapist cannot be told escalates now rather than at its time.
_ESCALATE_NOW = Query(
    update(A)
    .where(
        A.id == bindparam("alert_id"),
        A.status == "open",
        A.escalated_at.is_(None),
        A.escalate_at > _NOW,
    )
    .values(escalate_at=_NOW)
    .returning(A.id),
    IdRow,
)


# --- Escalation -----------------------------------------------------------------------------

_LIVE_ESCALATION = exists().where(
    N.alert_id == A.id, N.kind == "escalate", _one_of(N.status, ("pending", "sent"))
)
# Open alerts due to escalate: not yet escalated, or escalated to nobody who can be told (no
# admin had an address then; one may have now). Locked for the transaction that escalates them.
_TO_ESCALATE = Query(
    select(A.id)
    .where(
        A.status == "open",
        A.escalate_at <= _NOW,
        or_(A.escalated_at.is_(None), ~_LIVE_ESCALATION),
    )
    .order_by(A.escalate_at, A.id)
    .limit(bindparam("batch"))
    .with_for_update(skip_locked=True),
    IdRow,
)
_IDS = bindparam("ids", type_=ARRAY(BigInteger))
# One `escalate` notice per active admin with an address (the unique index: at most one each).
_ADD_ESCALATIONS = Query(
    pg_insert(N)
    .from_select(
        ["alert_id", "kind", "staff_id", "next_attempt_at"],
        select(A.id, literal("escalate"), Staff.id, _NOW)
        .join(Staff, Staff.role == "admin")
        .where(
            A.id == func.any(_IDS),
            Staff.is_active.is_(True),
            Staff.email.is_not(None),
            Staff.email != "",
        ),
    )
    .on_conflict_do_nothing()
    .returning(N.alert_id),
    AlertIdRow,
)
_ESCALATED = Query(
    update(A)
    .where(A.id == func.any(_IDS))
    .values(escalated_at=func.coalesce(A.escalated_at, _NOW))
    .returning(A.id),
    IdRow,
)
_LIVE_ESCALATIONS = Query(
    select(
        A.id,
        select(func.count())
        .where(N.alert_id == A.id, N.kind == "escalate", _one_of(N.status, ("pending", "sent")))
        .scalar_subquery()
        .label("notices"),
    ).where(A.id == func.any(_IDS)),
    LiveNoticesRow,
)


# --- Raising an alert (in the response's transaction) ---------------------------------------

_ALERT = (
    pg_insert(A)
    .values(
        response_id=bindparam("response_id"),
        patient_id=bindparam("patient_id"),
        rule=bindparam("rule"),
        therapist_id=bindparam("therapist_id", type_=Integer),
        escalate_at=func.now() + bindparam("escalate_minutes", type_=Integer) * _MINUTE,
    )
    .returning(A.id, A.therapist_id)
    .cte("alert")
)
_NOTIFY = (
    pg_insert(N)
    .from_select(
        ["alert_id", "kind", "staff_id"],
        select(_ALERT.c.id, literal("notify"), _ALERT.c.therapist_id).where(
            _ALERT.c.therapist_id.is_not(None)
        ),
    )
    .returning(N.id)
    .cte("notify")
)
# The alert and its therapist's `notify` notice, in one statement: both or neither.
_RAISE = Query(select(_ALERT.c.id).add_cte(_NOTIFY), IdRow)


Held = TypeVar("Held", IdRow, ReleasedRow)


class MeasureOutbox:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    # Requests.

    async def plan(self, now: datetime, horizon: timedelta) -> list[IdRow]:
        return await self.executor.fetch(_PLAN, now=now, horizon=horizon)

    async def replan(self, now: datetime) -> list[IdRow]:
        return await self.executor.fetch(_REPLAN, now=now)

    async def cancel(self, now: datetime) -> list[IdRow]:
        return await self.executor.fetch(_CANCEL, now=now)

    async def expire(self, now: datetime) -> list[IdRow]:
        return await self.executor.fetch(_EXPIRE, now=now)

    async def exhausted(self, now: datetime, max_attempts: int) -> list[IdRow]:
        return await self.executor.fetch(_EXHAUSTED, now=now, max_attempts=max_attempts)

    async def claim_requests(
        self, now: datetime, *, batch: int, lease: timedelta, max_attempts: int
    ) -> list[ClaimedRequestRow]:
        rows = await self.executor.fetch(
            _CLAIM_REQUESTS, now=now, batch=batch, lease=lease, max_attempts=max_attempts
        )
        return sorted(rows, key=lambda row: row["id"])  # RETURNING's order is random

    async def request_at_send_time(
        self, request_id: int, attempts: int, now: datetime, lease: timedelta
    ) -> RequestAtSendTimeRow | None:
        return await self.executor.fetch_one(
            _REQUEST_AT_SEND_TIME, id=request_id, attempts=attempts, now=now, lease=lease
        )

    async def request_sent(self, request_id: int, attempts: int, now: datetime) -> bool:
        return await self._held(_REQUEST_SENT, id=request_id, attempts=attempts, now=now)

    async def request_ended(self, request_id: int, attempts: int, status: str) -> bool:
        """Status `cancelled`, `expired` or `failed`: not sent, and never will be."""
        return await self._held(_REQUEST_ENDED, id=request_id, attempts=attempts, status=status)

    async def request_retry(
        self, request_id: int, attempts: int, now: datetime, delay: timedelta
    ) -> bool:
        return await self._held(
            _REQUEST_RETRY, id=request_id, attempts=attempts, now=now, delay=delay
        )

    async def request_release(self, request_id: int, attempts: int) -> bool:
        return await self._held(_REQUEST_RELEASE, id=request_id, attempts=attempts)

    # Alert notices.

    async def claim_notices(
        self, now: datetime, *, batch: int, lease: timedelta
    ) -> list[ClaimedNoticeRow]:
        rows = await self.executor.fetch(_CLAIM_NOTICES, now=now, batch=batch, lease=lease)
        return sorted(rows, key=lambda row: row["id"])

    async def notice_at_send_time(
        self, notice_id: int, attempts: int, now: datetime, lease: timedelta
    ) -> NoticeAtSendTimeRow | None:
        return await self.executor.fetch_one(
            _NOTICE_AT_SEND_TIME, id=notice_id, attempts=attempts, now=now, lease=lease
        )

    async def notice_sent(self, notice_id: int, attempts: int, now: datetime) -> bool:
        return await self._held(_NOTICE_SENT, id=notice_id, attempts=attempts, now=now)

    async def notice_undeliverable(self, notice_id: int, attempts: int) -> bool:
        return await self._held(_NOTICE_UNDELIVERABLE, id=notice_id, attempts=attempts)

    async def notice_retry(
        self, notice_id: int, attempts: int, now: datetime, delay: timedelta
    ) -> bool:
        return await self._held(
            _NOTICE_RETRY, id=notice_id, attempts=attempts, now=now, delay=delay
        )

    async def notice_release(self, notice_id: int, attempts: int) -> bool:
        return await self._held(_NOTICE_RELEASE, id=notice_id, attempts=attempts)

    async def escalate_now(self, alert_id: int, now: datetime) -> bool:
        return await self.executor.fetch_one(_ESCALATE_NOW, alert_id=alert_id, now=now) is not None

    # Escalation: in one transaction (the executor), the alerts locked until it commits.

    async def to_escalate(self, now: datetime, batch: int) -> list[int]:
        return [row["id"] for row in await self.executor.fetch(_TO_ESCALATE, now=now, batch=batch)]

    async def escalate(self, alert_ids: list[int], now: datetime) -> dict[int, int]:
        """Escalate the alerts to every admin who can be told: for each, how many escalation
        mails are now pending or sent (0: nobody can be told)."""
        await self.executor.fetch(_ADD_ESCALATIONS, ids=alert_ids, now=now)
        await self.executor.fetch(_ESCALATED, ids=alert_ids, now=now)
        rows = await self.executor.fetch(_LIVE_ESCALATIONS, ids=alert_ids)
        return {row["id"]: row["notices"] for row in rows}

    # Raising an alert.

    async def raise_alert(
        self,
        *,
        response_id: int,
        patient_id: str,
        rule: str,
        therapist_id: int | None,
        escalate_minutes: int,
    ) -> int:
        row = await self.executor.fetch_one(
            _RAISE,
            response_id=response_id,
            patient_id=patient_id,
            rule=rule,
            therapist_id=therapist_id,
            escalate_minutes=escalate_minutes,
        )
        assert row is not None  # an INSERT … RETURNING without a conflict clause
        return row["id"]

    async def _held(self, query: Query[Held], **params: object) -> bool:
        return await self.executor.fetch_one(query, **params) is not None

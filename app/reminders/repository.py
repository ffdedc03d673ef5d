"""The SQL of the reminders' outbox (appointment_reminders), as the worker runs it.

Every statement commits by itself: a worker holds no transaction, and no lock, while it talks
to a mail server. A reminder is the worker's while its lease lasts (`next_attempt_at` in the
future) and while `attempts` is still the number it claimed it with: every later statement of
that worker names both, so a worker whose lease ran out (another took the reminder since)
changes nothing.
"""

from datetime import timedelta
from typing import TypeVar

from sqlalchemy import Interval, and_, bindparam, func, literal_column, null, select, update
from sqlalchemy.sql.elements import ColumnElement

from app.db.query import Executor, Query
from app.models.patient import Patient
from app.models.scheduling import Appointment, AppointmentReminder
from app.models.staff import Staff
from app.reminders.schemas import AtSendTimeRow, ClaimedRow, ExhaustedRow, IdRow, ReleasedRow

R = AppointmentReminder
_NOW = func.now()
_LEASE = bindparam("lease", type_=Interval)


def _held() -> ColumnElement[bool]:
    """The reminder is still pending and still claimed by this attempt."""
    return and_(R.id == bindparam("id"), R.attempts == bindparam("attempts"), R.state == "pending")


# Reminders whose last attempt's worker died with it, out of attempts: failed, not retried.
_EXHAUSTED = Query(
    update(R)
    .where(
        R.state == "pending",
        R.next_attempt_at <= _NOW,
        R.attempts >= bindparam("max_attempts"),
    )
    .values(state="failed", last_error="The worker stopped during the last attempt.")
    .returning(R.id, R.appointment_id),
    ExhaustedRow,
)

_DUE = (
    select(R.id)
    .where(
        R.state == "pending",
        R.next_attempt_at <= _NOW,
        R.attempts < bindparam("max_attempts"),
    )
    .order_by(R.next_attempt_at, R.id)
    .limit(bindparam("batch"))
    .with_for_update(skip_locked=True)
)
# Due reminders, leased to the caller: two workers never claim the same one (SKIP LOCKED), and
# one that dies leaves its reminders to the others when the lease ends.
_CLAIM = Query(
    update(R)
    .where(R.id.in_(_DUE.scalar_subquery()))
    .values(next_attempt_at=_NOW + _LEASE, attempts=R.attempts + 1)
    .returning(R.id, R.appointment_id, R.due_at, R.dedupe_key, R.attempts),
    ClaimedRow,
)

_RENEW = (
    update(R)
    .where(_held())
    .values(next_attempt_at=_NOW + _LEASE)
    .returning(R.id, R.appointment_id, R.starts_at.label("reminder_starts_at"))
    .cte("renewed")
)
# At send time: the lease renewed (so the send has all of it), and the appointment as it is now,
# with what the mail needs. No row: the reminder is no longer this worker's.
_AT_SEND_TIME = Query(
    select(
        _RENEW.c.id,
        _RENEW.c.reminder_starts_at,
        Appointment.id.label("appointment"),
        Appointment.status,
        Appointment.starts_at,
        Appointment.ends_at,
        Appointment.kind,
        Patient.email,
        func.coalesce(Staff.display_name, Staff.username).label("therapist"),
        _NOW.label("now"),
    )
    .select_from(_RENEW)
    .outerjoin(Appointment, Appointment.id == _RENEW.c.appointment_id)
    .outerjoin(Patient, Patient.id == Appointment.patient_id)
    .outerjoin(Staff, Staff.id == Appointment.therapist_id),
    AtSendTimeRow,
)

_SENT = Query(
    update(R).where(_held()).values(state="sent", sent_at=_NOW, last_error=null()).returning(R.id),
    IdRow,
)
_SKIPPED = Query(
    update(R)
    .where(_held())
    .values(state="skipped", last_error=bindparam("reason"))
    .returning(R.id),
    IdRow,
)
_RETRY = Query(
    update(R)
    .where(_held())
    .values(
        next_attempt_at=_NOW + bindparam("delay", type_=Interval),
        last_error=bindparam("error"),
    )
    .returning(R.id),
    IdRow,
)
_FAILED = Query(
    update(R).where(_held()).values(state="failed", last_error=bindparam("error")).returning(R.id),
    IdRow,
)
# A claimed reminder the worker did not get to (it is stopping): due again now, its attempt
# not counted.
_RELEASE = Query(
    update(R)
    .where(_held())
    .values(next_attempt_at=_NOW, attempts=R.attempts - 1)
    .returning(literal_column("1").label("released")),
    ReleasedRow,
)


# The rows of the statements that change a reminder only while this attempt holds it.
Held = TypeVar("Held", IdRow, ReleasedRow)


class ReminderRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def expire(self, *, max_attempts: int) -> list[ExhaustedRow]:
        return await self.executor.fetch(_EXHAUSTED, max_attempts=max_attempts)

    async def claim(self, *, batch: int, lease: timedelta, max_attempts: int) -> list[ClaimedRow]:
        """Up to `batch` due reminders, leased for `lease`, the longest due first."""
        rows = await self.executor.fetch(
            _CLAIM, batch=batch, lease=lease, max_attempts=max_attempts
        )
        return sorted(rows, key=lambda row: (row["due_at"], row["id"]))  # RETURNING's is random

    async def at_send_time(
        self, reminder_id: int, attempts: int, lease: timedelta
    ) -> AtSendTimeRow | None:
        return await self.executor.fetch_one(
            _AT_SEND_TIME, id=reminder_id, attempts=attempts, lease=lease
        )

    async def sent(self, reminder_id: int, attempts: int) -> bool:
        return await self._held(_SENT, id=reminder_id, attempts=attempts)

    async def skipped(self, reminder_id: int, attempts: int, reason: str) -> bool:
        return await self._held(_SKIPPED, id=reminder_id, attempts=attempts, reason=reason)

    async def retry(self, reminder_id: int, attempts: int, delay: timedelta, error: str) -> bool:
        return await self._held(_RETRY, id=reminder_id, attempts=attempts, delay=delay, error=error)

    async def failed(self, reminder_id: int, attempts: int, error: str) -> bool:
        return await self._held(_FAILED, id=reminder_id, attempts=attempts, error=error)

    async def release(self, reminder_id: int, attempts: int) -> bool:
        return await self._held(_RELEASE, id=reminder_id, attempts=attempts)

    async def _held(self, query: Query[Held], **params: object) -> bool:
        return await self.executor.fetch_one(query, **params) is not None

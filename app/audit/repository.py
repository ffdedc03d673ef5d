"""All SQL of the audit trail. Nothing here updates or deletes an event (the database refuses
to as well)."""

from functools import cache
from typing import Any, cast

from sqlalchemy import (
    Executable,
    Select,
    Table,
    bindparam,
    exists,
    insert,
    literal,
    select,
    true,
)

from app.audit.schemas import AuditEventKeyRow, AuditEventRow, AuditQuery
from app.db.counting import Count, Counting
from app.db.query import Executor, Query
from app.models.audit import AuditEvent

EVENTS = cast(Table, AuditEvent.__table__)
# The columns an event is written with; `at` and `id` are the database's.
EVENT_COLUMNS = (
    "actor",
    "actor_kind",
    "action",
    "patient_id",
    "client_address",
    "outcome",
    "status_code",
)
PREFIX = "audit_"  # the event's parameters, apart from those of a statement it is added to


def _event_parameters() -> list[Any]:
    return [bindparam(PREFIX + name, type_=EVENTS.c[name].type) for name in EVENT_COLUMNS]


def event_parameters(event: dict[str, Any]) -> dict[str, Any]:
    """An event's values as the parameters of APPEND and of the statements `completing` makes."""
    return {PREFIX + name: event[name] for name in EVENT_COLUMNS}


APPEND = Query(
    insert(EVENTS).values(dict(zip(EVENT_COLUMNS, _event_parameters(), strict=True))),
    AuditEventKeyRow,
)


def completing(statement: Executable, *, if_rows: bool) -> Executable:
    """`statement`, writing the request's audit event in the same statement, so that a read or
    a write and its event commit together in one round trip. With `if_rows`, the event is
    written only if the statement returns a row (a read or write of one patient that found
    them); without, whatever it returns (a page of a list)."""
    values = _event_parameters()
    if not if_rows:
        event = insert(EVENTS).values(dict(zip(EVENT_COLUMNS, values, strict=True)))
        return cast(Select[Any], statement).add_cte(event.cte("audit"))
    result = cast(Select[Any], statement).cte("result")
    found = select(*values).where(exists(select(literal(1)).select_from(result)))
    event = insert(EVENTS).from_select(list(EVENT_COLUMNS), found)
    return select(*result.c).add_cte(event.cte("audit"))


# The columns a caller-checked read returns before its own: the caller's row, and whether the
# read found anything.
CALLER_NAME, CALLER_ROLE, FOUND = "caller_name", "caller_role", "caller_read_found"


def completing_for_caller(statement: Executable, caller: Select[Any]) -> Select[Any]:
    """A read of one row that also checks its caller and writes the request's audit event, in
    one statement. `caller` selects the caller's row (`name`, `role`; none when they are gone or
    inactive). It returns no row when there is no caller, else one: the caller's name and role,
    whether the read found its row, and that row's columns (nulls when it did not). The event
    names the caller as the database knows them, and is written only if both were found."""
    who = caller.cte("caller")
    result = cast(Select[Any], statement).cte("result")
    found = exists(select(literal(1)).select_from(result))
    values = [who.c.name, *_event_parameters()[1:]]  # the actor is the caller's name
    event = insert(EVENTS).from_select(list(EVENT_COLUMNS), select(*values).where(found))
    return (
        select(
            who.c.name.label(CALLER_NAME),
            who.c.role.label(CALLER_ROLE),
            found.label(FOUND),
            *result.c,
        )
        .select_from(who.outerjoin(result, true()))
        .add_cte(event.cte("audit"))
    )


@cache
def _events(patient: bool, actor: bool, action: bool) -> tuple[Query[AuditEventRow], Counting]:
    """The audit list's page and the rows its count counts, for one combination of filters."""
    conditions = [
        column == bindparam(name)
        for present, column, name in (
            (patient, AuditEvent.patient_id, "patient"),
            (actor, AuditEvent.actor, "actor"),
            (action, AuditEvent.action, "action"),
        )
        if present
    ]
    page = (
        select(AuditEvent)
        .where(*conditions)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
    )
    return Query(page, AuditEventRow), Counting(select(AuditEvent.id).where(*conditions))


class AuditRepository:
    """Reads the audit trail; events are appended through APPEND and `completing`."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def count(self, query: AuditQuery, *, exact_up_to: int | None) -> Count:
        _, counting = _events(*_present(query))
        return await counting.count(self.executor, _filters(query), exact_up_to=exact_up_to)

    async def list(self, query: AuditQuery, *, offset: int, limit: int) -> list[AuditEventRow]:
        """Newest first."""
        page, _ = _events(*_present(query))
        return await self.executor.fetch(page, **_filters(query), offset=offset, limit=limit)


def _filters(query: AuditQuery) -> dict[str, str]:
    values = {"patient": query.patient, "actor": query.actor, "action": query.action}
    return {name: value for name, value in values.items() if value is not None}


def _present(query: AuditQuery) -> tuple[bool, bool, bool]:
    return query.patient is not None, query.actor is not None, query.action is not None

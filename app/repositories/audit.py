from collections.abc import Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Select, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.audit import AuditEvent
from app.repositories.counting import Count, count_rows
from app.schemas.audit import AuditQuery

SelectT = TypeVar("SelectT", bound=Select[Any])

# A Core INSERT of the table, built once: every request appends an event, and nothing reads back
# the generated id and time, so the ORM's unit of work and its RETURNING would be pure overhead.
_APPEND = insert(cast(Table, AuditEvent.__table__)).inline()


class AuditRepository:
    """Appends and reads audit events; nothing here updates or deletes one."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, values: dict[str, Any]) -> None:
        await self.session.execute(_APPEND, values)

    async def count(self, query: AuditQuery, *, exact_up_to: int | None) -> Count:
        rows = self._filtered(select(AuditEvent.id), query)
        return await count_rows(self.session, rows, exact_up_to=exact_up_to)

    async def list(self, query: AuditQuery, *, offset: int, limit: int) -> Sequence[AuditEvent]:
        statement = self._filtered(select(AuditEvent), query)
        statement = (
            statement.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return (await self.session.scalars(statement)).all()

    @staticmethod
    def _filtered(statement: SelectT, query: AuditQuery) -> SelectT:
        if query.patient:
            statement = statement.where(AuditEvent.patient_id == query.patient)
        if query.actor:
            statement = statement.where(AuditEvent.actor == query.actor)
        if query.action:
            statement = statement.where(AuditEvent.action == query.action)
        return statement

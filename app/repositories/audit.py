from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.audit import AuditEvent
from app.schemas.audit import AuditQuery

SelectT = TypeVar("SelectT", bound=Select[Any])


class AuditRepository:
    """Appends and reads audit events; nothing here updates or deletes one."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def append(self, event: AuditEvent) -> None:
        self.session.add(event)

    async def count(self, query: AuditQuery) -> int:
        statement = self._filtered(select(func.count()).select_from(AuditEvent), query)
        return (await self.session.execute(statement)).scalar_one()

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

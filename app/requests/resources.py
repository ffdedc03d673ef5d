"""The service of a plain audited resource, over a generic repository (app.db.repository).

Each method is one statement that completes the request's work: the audit event is written by
that statement itself (app.requests.work), so a read, a create or a change of one row is one
round trip, event included. A row that is not there (or is deleted) is a 404, audited as such.
A resource with rules of its own subclasses it and adds them around these calls.
"""

from collections.abc import Mapping
from typing import Any, Generic

from app.core.errors import NotFound
from app.db.counting import Count
from app.db.query import R
from app.db.repository import Repository
from app.requests.work import UnitOfWork


class ResourceService(Generic[R]):
    def __init__(self, work: UnitOfWork, repository: Repository[R]) -> None:
        self.work = work
        self.repository = repository

    async def get(self, id: Any) -> R:
        return found(await self.work.completed_by(self.repository.get(id)))

    async def count(self, filters: Mapping[str, Any], *, exact_up_to: int | None) -> Count:
        return await self.repository.count(filters, exact_up_to=exact_up_to)

    async def page(self, filters: Mapping[str, Any], *, offset: int, limit: int) -> list[R]:
        return await self.work.completed_by(
            self.repository.page(filters, offset=offset, limit=limit)
        )

    async def create(self, values: Mapping[str, Any]) -> R:
        return await self.work.completed_by(self.repository.create(values))

    async def update(self, id: Any, values: Mapping[str, Any]) -> R:
        return found(await self.work.completed_by(self.repository.update(id, values)))

    async def delete(self, id: Any) -> None:
        found(await self.work.completed_by(self.repository.delete(id)))


def found(row: R | None) -> R:
    """The row a statement found; none is a 404."""
    if row is None:
        raise NotFound
    return row

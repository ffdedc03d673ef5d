"""Billable services: the generic audited service (app.requests.resources), and the one rule it
adds: a code names one service that is not deleted (a partial unique index), else a 400 on
`code`."""

from collections.abc import Mapping
from typing import Any

import asyncpg

from app.core.errors import ValidationFailed
from app.payments.repository import BillableServiceRepository
from app.payments.schemas import BillableServiceRow
from app.requests.resources import ResourceService
from app.requests.work import UnitOfWork

CODE_TAKEN = "A billable service with this code already exists."


class BillableServiceService(ResourceService[BillableServiceRow]):
    def __init__(self, work: UnitOfWork) -> None:
        super().__init__(work, BillableServiceRepository(work))

    async def create(self, values: Mapping[str, Any]) -> BillableServiceRow:
        try:
            return await super().create(values)
        except asyncpg.UniqueViolationError:
            raise ValidationFailed.on("code", CODE_TAKEN) from None

    async def update(self, id: Any, values: Mapping[str, Any]) -> BillableServiceRow:
        try:
            return await super().update(id, values)
        except asyncpg.UniqueViolationError:
            raise ValidationFailed.on("code", CODE_TAKEN) from None

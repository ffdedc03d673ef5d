"""Billable services: the generic audited service (app.requests.resources), and the one rule it
adds: a code names one service that is not deleted (a partial unique index), else a 400 on
`code`. Patients' sliding scales: set, read and removed by patient id."""

from collections.abc import Mapping
from typing import Any

import asyncpg

from app.auth.permissions import Principal
from app.core.errors import ValidationFailed
from app.payments.repository import BillableServiceRepository, SlidingScaleRepository
from app.payments.schemas import BillableServiceRow, SlidingScaleRow, SlidingScaleSet
from app.requests.resources import ResourceService, found
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


class SlidingScaleService:
    """A patient's sliding scale: each call is one statement that writes its audit event too; a
    patient who is not there (or is deleted), or a scale that is not, is a 404."""

    def __init__(self, work: UnitOfWork) -> None:
        self.work = work
        self.scales = SlidingScaleRepository(work)

    async def get(self, patient_id: str) -> SlidingScaleRow:
        return found(await self.work.completed_by(self.scales.get(patient_id)))

    async def set(
        self, patient_id: str, scale: SlidingScaleSet, actor: Principal
    ) -> SlidingScaleRow:
        changed = self.scales.set(patient_id, scale.percent, scale.reason, actor.name)
        return found(await self.work.completed_by(changed))

    async def delete(self, patient_id: str) -> None:
        found(await self.work.completed_by(self.scales.delete(patient_id)))

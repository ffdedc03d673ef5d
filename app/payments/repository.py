"""The SQL of payments: billable services over the generic repository (app.db.repository), and
patients' sliding scales written by hand, since the generic one has neither an upsert nor a
condition beyond a row's id (a scale is found only while its patient is not deleted)."""

from typing import cast

from sqlalchemy import SmallInteger, String, Table, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.db.query import Executor, Query
from app.db.repository import Repository
from app.models.patient import kept
from app.models.payments import BillableService, SlidingScale
from app.payments.schemas import BillableServiceRow, SlidingScaleRow


class BillableServiceRepository(Repository[BillableServiceRow]):
    table = cast(Table, BillableService.__table__)
    row = BillableServiceRow
    filters = ("code",)
    order_by = ("code", "id")
    deleted_at = "deleted_at"
    updated_at = "updated_at"


SCALES = cast(Table, SlidingScale.__table__)
_PATIENT = bindparam("patient_id", type_=String)
_THIS_SCALE = (SCALES.c.patient_id == _PATIENT, kept(SCALES.c.patient_id))
_GET_SCALE = Query(select(*SCALES.c).where(*_THIS_SCALE), SlidingScaleRow)
# Set or replaced in one statement; a patient who is not there (or deleted) gets no row.
_inserted = pg_insert(SCALES).from_select(
    ["patient_id", "percent", "reason", "set_by"],
    select(
        _PATIENT,
        bindparam("percent", type_=SmallInteger),
        bindparam("reason", type_=SCALES.c.reason.type),
        bindparam("set_by", type_=SCALES.c.set_by.type),
    ).where(kept(_PATIENT)),
)
_SET_SCALE = Query(
    _inserted.on_conflict_do_update(
        index_elements=[SCALES.c.patient_id],
        set_={
            "percent": _inserted.excluded.percent,
            "reason": _inserted.excluded.reason,
            "set_by": _inserted.excluded.set_by,
            "set_at": func.now(),
        },
    ).returning(*SCALES.c),
    SlidingScaleRow,
)
_DELETE_SCALE = Query(delete(SCALES).where(*_THIS_SCALE).returning(*SCALES.c), SlidingScaleRow)


class SlidingScaleRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def get(self, patient_id: str) -> SlidingScaleRow | None:
        return await self.executor.fetch_one(_GET_SCALE, patient_id=patient_id)

    async def set(
        self, patient_id: str, percent: int, reason: str, set_by: str
    ) -> SlidingScaleRow | None:
        """The patient's scale, set or replaced; None when the patient is not there."""
        return await self.executor.fetch_one(
            _SET_SCALE, patient_id=patient_id, percent=percent, reason=reason, set_by=set_by
        )

    async def delete(self, patient_id: str) -> SlidingScaleRow | None:
        """The scale as it was deleted; None when there was none."""
        return await self.executor.fetch_one(_DELETE_SCALE, patient_id=patient_id)

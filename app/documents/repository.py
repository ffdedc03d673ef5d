"""All SQL of patient documents. Statements are compiled once (an update once per set of
columns); nothing here commits: the unit of work does."""

from functools import lru_cache
from typing import Any, cast

import asyncpg
from sqlalchemy import (
    BigInteger,
    Boolean,
    Table,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from app.db.counting import Count, Counting
from app.db.query import Executor, Query
from app.documents.schemas import AppointmentPatientRow, DocumentRow, StorageNameRow
from app.models.document import PatientDocument
from app.models.patient import KEPT, VERSION_SEQUENCE, Patient, kept
from app.models.scheduling import Appointment
from app.patients.schemas import PatientIdRow

DOCUMENTS = cast(Table, PatientDocument.__table__)
COLUMNS = list(DOCUMENTS.c)
CREATED = (
    "patient_id",
    "appointment_id",
    "title",
    "category",
    "content_type",
    "size",
    "sha256",
    "storage_name",
    "key_id",
    "uploaded_by",
)


def _param(name: str) -> Any:
    return bindparam(name, type_=DOCUMENTS.c[name].type)


_THIS = (
    PatientDocument.id == bindparam("id", type_=BigInteger),
    PatientDocument.patient_id == bindparam("patient_id"),
    kept(PatientDocument.patient_id),
)
# A patient does not see a withheld document: `everything` is false for them.
_VISIBLE = or_(PatientDocument.withheld.is_(False), bindparam("everything", type_=Boolean))
_OF_PATIENT = (
    PatientDocument.patient_id == bindparam("patient_id"),
    kept(PatientDocument.patient_id),
    _VISIBLE,
)
_ROWS = select(*COLUMNS).where(*_OF_PATIENT)

_GET = Query(select(*COLUMNS).where(*_THIS, _VISIBLE), DocumentRow)
_GET_FOR_UPDATE = Query(select(*COLUMNS).where(*_THIS).with_for_update(), DocumentRow)
_LIST = Query(
    _ROWS.order_by(PatientDocument.created_at.desc(), PatientDocument.id.desc())
    .offset(bindparam("offset"))
    .limit(bindparam("limit")),
    DocumentRow,
)
_COUNTING = Counting(select(PatientDocument.id).where(*_OF_PATIENT))
_INSERT = Query(
    insert(DOCUMENTS).values({name: _param(name) for name in CREATED}).returning(*COLUMNS),
    DocumentRow,
)
_DELETE = Query(
    delete(PatientDocument).where(*_THIS).returning(PatientDocument.storage_name), StorageNameRow
)
_PATIENT_EXISTS = Query(select(Patient.id).where(Patient.id == bindparam("id"), KEPT), PatientIdRow)
_APPOINTMENT_PATIENT = Query(
    select(Appointment.patient_id).where(
        Appointment.id == bindparam("id", type_=BigInteger), kept(Appointment.patient_id)
    ),
    AppointmentPatientRow,
)


@lru_cache(maxsize=32)
def _update(columns: tuple[str, ...]) -> Query[DocumentRow]:
    return Query(
        update(PatientDocument)
        .where(*_THIS)
        .values(
            {
                **{name: _param(name) for name in columns},
                "updated_at": func.now(),
                "version": VERSION_SEQUENCE.next_value(),
            }
        )
        .returning(*COLUMNS),
        DocumentRow,
    )


class DocumentRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def get(
        self, patient_id: str, document_id: int, *, everything: bool
    ) -> DocumentRow | None:
        """The document, if it is the patient's (and not withheld, unless `everything`)."""
        return await self.executor.fetch_one(
            _GET, id=document_id, patient_id=patient_id, everything=everything
        )

    async def get_for_update(self, patient_id: str, document_id: int) -> DocumentRow | None:
        return await self.executor.fetch_one(_GET_FOR_UPDATE, id=document_id, patient_id=patient_id)

    async def list(
        self, patient_id: str, *, everything: bool, offset: int, limit: int
    ) -> list[DocumentRow]:
        return await self.executor.fetch(
            _LIST, patient_id=patient_id, everything=everything, offset=offset, limit=limit
        )

    async def count(self, patient_id: str, *, everything: bool, exact_up_to: int | None) -> Count:
        params = {"patient_id": patient_id, "everything": everything}
        return await _COUNTING.count(self.executor, params, exact_up_to=exact_up_to)

    async def create(self, **values: Any) -> DocumentRow | None:
        """The document recorded; None when its patient is gone meanwhile."""
        try:
            return await self.executor.fetch_one(_INSERT, **values)
        except asyncpg.ForeignKeyViolationError as error:
            if error.constraint_name == "fk_patient_documents_patient_id_patients":
                return None
            raise

    async def patient_exists(self, patient_id: str) -> bool:
        return await self.executor.fetch_one(_PATIENT_EXISTS, id=patient_id) is not None

    async def update(
        self, patient_id: str, document_id: int, changes: dict[str, Any]
    ) -> DocumentRow | None:
        columns = tuple(sorted(changes))
        return await self.executor.fetch_one(
            _update(columns), id=document_id, patient_id=patient_id, **changes
        )

    async def delete(self, patient_id: str, document_id: int) -> str | None:
        """Delete the document; the name of its stored bytes, or None when there was none."""
        row = await self.executor.fetch_one(_DELETE, id=document_id, patient_id=patient_id)
        return None if row is None else row["storage_name"]

    async def appointment_patient(self, appointment_id: int) -> str | None:
        row = await self.executor.fetch_one(_APPOINTMENT_PATIENT, id=appointment_id)
        return None if row is None else row["patient_id"]

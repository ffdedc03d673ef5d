"""All SQL of clinical notes, compiled once; nothing here commits: the unit of work does.

Psychotherapy notes are read by one statement that names their author: no statement here
lists them across authors."""

from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    Table,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from app.db.counting import Count, Counting
from app.db.query import Executor, Query
from app.models.notes import (
    ProgressNote,
    ProgressNoteAddendum,
    PsychotherapyNote,
    PsychotherapyNoteAuthorization,
)
from app.models.patient import KEPT, VERSION_SEQUENCE, Patient, kept
from app.models.scheduling import Appointment
from app.models.staff import Staff
from app.notes.schemas import (
    AddendumRow,
    AuthorizationRow,
    IdRow,
    NoteAppointmentRow,
    NoteRow,
    PatientIdRow,
    PsychotherapyNoteRow,
)

NOTES = cast(Table, ProgressNote.__table__)
ADDENDA = cast(Table, ProgressNoteAddendum.__table__)
PSYCHOTHERAPY = cast(Table, PsychotherapyNote.__table__)
AUTHORIZATIONS = cast(Table, PsychotherapyNoteAuthorization.__table__)


def _param(table: Table, name: str) -> Any:
    return bindparam(name, type_=table.c[name].type)


# A deleted patient's appointments, and so their notes, are not found.
_APPOINTMENT = Query(
    select(Appointment.id, Appointment.patient_id, Appointment.therapist_id)
    .join(Patient, Patient.id == Appointment.patient_id)
    .where(Appointment.id == bindparam("id", type_=BigInteger), KEPT),
    NoteAppointmentRow,
)
_PATIENT_EXISTS = Query(
    select(Patient.id).where(Patient.id == bindparam("id", type_=String), KEPT), PatientIdRow
)
_ACTIVE_STAFF = Query(
    select(Staff.id).where(
        Staff.username == bindparam("username", type_=String), Staff.is_active.is_(true())
    ),
    IdRow,
)

# Progress notes.

_NOTE_WHERE = (
    ProgressNote.id == bindparam("id", type_=BigInteger),
    ProgressNote.appointment_id == bindparam("appointment_id", type_=BigInteger),
)
_GET_NOTE = Query(select(*NOTES.c).where(*_NOTE_WHERE), NoteRow)
_GET_NOTE_FOR_UPDATE = Query(select(*NOTES.c).where(*_NOTE_WHERE).with_for_update(), NoteRow)
_CREATED = (
    "appointment_id",
    "patient_id",
    "author_id",
    "template",
    "fields",
    "withheld",
    "withheld_reason",
)
_INSERT_NOTE = Query(
    insert(NOTES).values({name: _param(NOTES, name) for name in _CREATED}).returning(*NOTES.c),
    NoteRow,
)


@lru_cache(maxsize=32)
def _update_note(columns: tuple[str, ...]) -> Query[NoteRow]:
    return Query(
        update(ProgressNote)
        .where(ProgressNote.id == bindparam("id", type_=BigInteger))
        .values(
            {
                **{name: _param(NOTES, name) for name in columns},
                "updated_at": func.now(),
                "version": VERSION_SEQUENCE.next_value(),
            }
        )
        .returning(*NOTES.c),
        NoteRow,
    )


# An addendum changes what the note reads as, so its ETag; updated_at stays the note's own.
_NEW_VERSION = Query(
    update(ProgressNote)
    .where(ProgressNote.id == bindparam("id", type_=BigInteger))
    .values(version=VERSION_SEQUENCE.next_value())
    .returning(*NOTES.c),
    NoteRow,
)


# Which of an appointment's notes a caller sees: signed ones (drafts too with `drafts`, and
# their own with `me`), and withheld ones only with `withheld`.
_VISIBLE = select(*NOTES.c).where(
    ProgressNote.appointment_id == bindparam("appointment_id", type_=BigInteger),
    or_(
        ProgressNote.status == literal_column("'signed'"),
        bindparam("drafts", type_=Boolean),
        ProgressNote.author_id == bindparam("me", type_=Integer),
    ),
    or_(ProgressNote.withheld.is_(False), bindparam("withheld", type_=Boolean)),
)
_NOTES_PAGE = Query(
    _VISIBLE.order_by(ProgressNote.id).offset(bindparam("offset")).limit(bindparam("limit")),
    NoteRow,
)
_NOTES_COUNT = Counting(_VISIBLE)
_ADDENDA = Query(
    select(*ADDENDA.c)
    .where(ProgressNoteAddendum.note_id == func.any(bindparam("ids", type_=ARRAY(BigInteger))))
    .order_by(ProgressNoteAddendum.id),
    AddendumRow,
)
_INSERT_ADDENDUM = Query(
    insert(ADDENDA)
    .values(
        note_id=_param(ADDENDA, "note_id"),
        author_id=_param(ADDENDA, "author_id"),
        text=_param(ADDENDA, "text"),
    )
    .returning(*ADDENDA.c),
    AddendumRow,
)

# Psychotherapy notes: always by their author.

_GET_PSYCHOTHERAPY = Query(
    select(*PSYCHOTHERAPY.c).where(
        PsychotherapyNote.id == bindparam("id", type_=BigInteger),
        kept(PsychotherapyNote.patient_id),
    ),
    PsychotherapyNoteRow,
)
_INSERT_PSYCHOTHERAPY = Query(
    insert(PSYCHOTHERAPY)
    .values(
        {
            name: _param(PSYCHOTHERAPY, name)
            for name in ("patient_id", "appointment_id", "author_id", "text")
        }
    )
    .returning(*PSYCHOTHERAPY.c),
    PsychotherapyNoteRow,
)


@lru_cache(maxsize=4)
def _own(by_patient: bool) -> Any:
    conditions = [
        PsychotherapyNote.author_id == bindparam("author_id", type_=Integer),
        kept(PsychotherapyNote.patient_id),
    ]
    if by_patient:
        conditions.append(PsychotherapyNote.patient_id == bindparam("patient_id", type_=String))
    return select(*PSYCHOTHERAPY.c).where(*conditions)


@lru_cache(maxsize=4)
def _own_page(by_patient: bool) -> Query[PsychotherapyNoteRow]:
    statement = (
        _own(by_patient)
        .order_by(PsychotherapyNote.id.desc())
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
    )
    return Query(statement, PsychotherapyNoteRow)


@lru_cache(maxsize=4)
def _own_count(by_patient: bool) -> Counting:
    return Counting(_own(by_patient))


_AUTHORIZATION_COLUMNS = (*AUTHORIZATIONS.c, Staff.username.label("recipient"))
_INSERT_AUTHORIZATION = Query(
    insert(AUTHORIZATIONS)
    .values(
        {
            name: _param(AUTHORIZATIONS, name)
            for name in ("note_id", "granted_by", "recipient_id", "purpose", "expires_at")
        }
    )
    .returning(AUTHORIZATIONS.c.id),
    IdRow,
)
_AUTHORIZATION_WHERE = (
    PsychotherapyNoteAuthorization.id == bindparam("id", type_=BigInteger),
    PsychotherapyNoteAuthorization.note_id == bindparam("note_id", type_=BigInteger),
)
_WITH_RECIPIENT = select(*_AUTHORIZATION_COLUMNS).join(
    Staff, Staff.id == PsychotherapyNoteAuthorization.recipient_id
)
_GET_AUTHORIZATION = Query(_WITH_RECIPIENT.where(*_AUTHORIZATION_WHERE), AuthorizationRow)
_GET_AUTHORIZATION_FOR_UPDATE = Query(
    _WITH_RECIPIENT.where(*_AUTHORIZATION_WHERE).with_for_update(of=PsychotherapyNoteAuthorization),
    AuthorizationRow,
)
_NOTE_AUTHORIZATIONS = _WITH_RECIPIENT.where(
    PsychotherapyNoteAuthorization.note_id == bindparam("note_id", type_=BigInteger)
)
_AUTHORIZATIONS_PAGE = Query(
    _NOTE_AUTHORIZATIONS.order_by(PsychotherapyNoteAuthorization.id.desc())
    .offset(bindparam("offset"))
    .limit(bindparam("limit")),
    AuthorizationRow,
)
_AUTHORIZATIONS_COUNT = Counting(_NOTE_AUTHORIZATIONS)
_REVOKE = Query(
    update(PsychotherapyNoteAuthorization)
    .where(
        *_AUTHORIZATION_WHERE,
        Staff.id == PsychotherapyNoteAuthorization.recipient_id,
    )
    .values(revoked_at=func.now(), revoked_by=_param(AUTHORIZATIONS, "revoked_by"))
    .returning(*_AUTHORIZATION_COLUMNS),
    AuthorizationRow,
)


class NoteRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def appointment(self, appointment_id: int) -> NoteAppointmentRow | None:
        return await self.executor.fetch_one(_APPOINTMENT, id=appointment_id)

    async def patient_exists(self, patient_id: str) -> bool:
        return await self.executor.fetch_one(_PATIENT_EXISTS, id=patient_id) is not None

    async def active_staff_id(self, username: str) -> int | None:
        row = await self.executor.fetch_one(_ACTIVE_STAFF, username=username)
        return None if row is None else row["id"]

    # Progress notes.

    async def get(
        self, appointment_id: int, note_id: int, *, for_update: bool = False
    ) -> NoteRow | None:
        query = _GET_NOTE_FOR_UPDATE if for_update else _GET_NOTE
        return await self.executor.fetch_one(query, id=note_id, appointment_id=appointment_id)

    async def insert(self, values: dict[str, Any]) -> NoteRow:
        row = await self.executor.fetch_one(_INSERT_NOTE, **values)
        assert row is not None
        return row

    async def update(self, note_id: int, values: dict[str, Any]) -> NoteRow:
        row = await self.executor.fetch_one(
            _update_note(tuple(sorted(values))), id=note_id, **values
        )
        assert row is not None
        return row

    async def new_version(self, note_id: int) -> NoteRow:
        row = await self.executor.fetch_one(_NEW_VERSION, id=note_id)
        assert row is not None
        return row

    async def visible(
        self, appointment_id: int, visibility: dict[str, Any], *, offset: int, limit: int
    ) -> list[NoteRow]:
        return await self.executor.fetch(
            _NOTES_PAGE, appointment_id=appointment_id, **visibility, offset=offset, limit=limit
        )

    async def count_visible(
        self, appointment_id: int, visibility: dict[str, Any], *, exact_up_to: int | None
    ) -> Count:
        params = {"appointment_id": appointment_id, **visibility}
        return await _NOTES_COUNT.count(self.executor, params, exact_up_to=exact_up_to)

    async def addenda(self, note_ids: list[int]) -> list[AddendumRow]:
        if not note_ids:
            return []
        return await self.executor.fetch(_ADDENDA, ids=note_ids)

    async def add_addendum(self, note_id: int, author_id: int, text: str) -> AddendumRow:
        row = await self.executor.fetch_one(
            _INSERT_ADDENDUM, note_id=note_id, author_id=author_id, text=text
        )
        assert row is not None
        return row

    # Psychotherapy notes.

    async def psychotherapy_note(self, note_id: int) -> PsychotherapyNoteRow | None:
        return await self.executor.fetch_one(_GET_PSYCHOTHERAPY, id=note_id)

    async def add_psychotherapy_note(self, values: dict[str, Any]) -> PsychotherapyNoteRow:
        row = await self.executor.fetch_one(_INSERT_PSYCHOTHERAPY, **values)
        assert row is not None
        return row

    async def own_psychotherapy_notes(
        self, author_id: int, patient_id: str | None, *, offset: int, limit: int
    ) -> list[PsychotherapyNoteRow]:
        params = _own_params(author_id, patient_id)
        page = _own_page(patient_id is not None)
        return await self.executor.fetch(page, **params, offset=offset, limit=limit)

    async def count_own_psychotherapy_notes(
        self, author_id: int, patient_id: str | None, *, exact_up_to: int | None
    ) -> Count:
        params = _own_params(author_id, patient_id)
        counting = _own_count(patient_id is not None)
        return await counting.count(self.executor, params, exact_up_to=exact_up_to)

    async def authorize(self, values: dict[str, Any]) -> AuthorizationRow:
        inserted = await self.executor.fetch_one(_INSERT_AUTHORIZATION, **values)
        assert inserted is not None
        row = await self.authorization(values["note_id"], inserted["id"])
        assert row is not None
        return row

    async def authorization(
        self, note_id: int, authorization_id: int, *, for_update: bool = False
    ) -> AuthorizationRow | None:
        query = _GET_AUTHORIZATION_FOR_UPDATE if for_update else _GET_AUTHORIZATION
        return await self.executor.fetch_one(query, id=authorization_id, note_id=note_id)

    async def authorizations(
        self, note_id: int, *, offset: int, limit: int
    ) -> list[AuthorizationRow]:
        return await self.executor.fetch(
            _AUTHORIZATIONS_PAGE, note_id=note_id, offset=offset, limit=limit
        )

    async def count_authorizations(self, note_id: int, *, exact_up_to: int | None) -> Count:
        params = {"note_id": note_id}
        return await _AUTHORIZATIONS_COUNT.count(self.executor, params, exact_up_to=exact_up_to)

    async def revoke(
        self, note_id: int, authorization_id: int, revoked_by: int
    ) -> AuthorizationRow:
        row = await self.executor.fetch_one(
            _REVOKE, id=authorization_id, note_id=note_id, revoked_by=revoked_by
        )
        assert row is not None
        return row


def _own_params(author_id: int, patient_id: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"author_id": author_id}
    if patient_id is not None:
        params["patient_id"] = patient_id
    return params

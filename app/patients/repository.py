"""All SQL for patients. Statements are built and compiled once (the list and updates once per
combination of filters or columns); nothing here commits: the unit of work does.

Written by hand, not by app.db.repository's generic statements, because this is the hot path:
a read by id is fused with its caller check and audit event into one round trip, every write
carries its version CTE (app.patients.versions), and the list has its own search and order."""

import secrets
import string
from datetime import datetime
from functools import lru_cache
from typing import Any, Final, NamedTuple, cast

import asyncpg
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    Table,
    Text,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.core.conditional import Versions
from app.core.errors import NotFound, PreconditionFailed, ValidationFailed
from app.db.counting import Count, Counting
from app.db.query import Executor, Query
from app.models.document import PatientDocument
from app.models.patient import KEPT, MAX_TAGS, VERSION_SEQUENCE, Patient
from app.models.scheduling import ACTIVE_STATUSES, Appointment, patient_lock
from app.models.staff import Staff
from app.patients.schemas import (
    CredentialsRow,
    DeletedPatientRow,
    EmailOfStaffRow,
    HolderRow,
    PatientIdRow,
    PatientListQuery,
    PatientPhiRow,
    PatientPhoneRow,
    PatientRow,
    PictureReplacedRow,
    PurgedRow,
    SharedEmailRow,
)
from app.patients.versions import (
    RESTORABLE,
    VERSIONS,
    Change,
    changed_fields,
    encrypted_under_other_key,
    field_name,
    recorded,
    version_of,
)


class StoredFiles(NamedTuple):
    """A deleted patient's files in the stores: their picture, and their documents."""

    picture: str | None
    documents: list[str]


ID_ALPHABET = string.ascii_lowercase + string.digits

PATIENTS = cast(Table, Patient.__table__)
# What a read or write returns: everything but the password hash (and the deletion's time: a
# deleted patient is never returned).
COLUMNS = [column for column in PATIENTS.c if column.key not in ("password_hash", "deleted_at")]
RETURNED = [column.key for column in COLUMNS]
# What a create sets; an optional field left out is stored as null, tags as [].
CREATED = (
    "id",
    "password_hash",
    "first_name",
    "last_name",
    "phone_no",
    "allergies_and_medication",
    "date_of_birth",
    "sex",
    "ssn",
    "email",
    "address",
    "added_note",
    "about_note",
    "tags",
)
CREATE_DEFAULTS: dict[str, Any] = {
    "ssn": None,
    "email": None,
    "address": None,
    "added_note": None,
    "about_note": None,
    "tags": [],
}
# What a patient may be told of a phone number or e-mail address another account holds: nothing
# that confirms it does (staff are told whose it is by the service, once the write is refused).
PHONE_NOT_USABLE = (
    "This phone number cannot be saved to this record. Check it, or contact the clinic to "
    "update it."
)
EMAIL_NOT_USABLE = (
    "This e-mail address cannot be saved to this record. Use another address, or contact the "
    "clinic to update it."
)
UNIQUE_FIELDS = {
    "pk_patients": ("id", "A patient with this id already exists."),
    "uq_patients_phone_no": ("phone_no", PHONE_NOT_USABLE),
    "uq_patients_lower_email": ("email", EMAIL_NOT_USABLE),
    # Raised by the trigger of migration 0015: a staff member has the address.
    "uq_accounts_email_staff": ("email", EMAIL_NOT_USABLE),
}


def new_patient_id() -> str:
    return "p_" + "".join(secrets.choice(ID_ALPHABET) for _ in range(6))


def _param(name: str) -> Any:
    return bindparam(name, type_=PATIENTS.c[name].type)


def _param_as(name: str, column: str) -> Any:
    """A parameter of the column's type (a session appended: its notes encrypted)."""
    return bindparam(name, type_=PATIENTS.c[column].type)


def matching(conditional: bool) -> list[ColumnElement[bool]]:
    """The patient a write is for; with If-Match, only at one of the versions it names."""
    conditions: list[ColumnElement[bool]] = [Patient.id == bindparam("id"), KEPT]
    if conditional:
        versions = bindparam("versions", type_=ARRAY(BigInteger))
        conditions.append(Patient.version == func.any(versions))
    return conditions


def changed() -> dict[str, Any]:
    """What every write sets besides its own columns: a new version (the ETag) and the time."""
    return {"updated_at": func.now(), "version": VERSION_SEQUENCE.next_value()}


def versioned(versions: Versions) -> dict[str, Any]:
    return {} if versions is None else {"versions": list(versions)}


def _jsonb(name: str) -> Any:
    """A JSONB parameter (a Python list: the pool's codec encodes it)."""
    return bindparam(name, type_=JSONB)


_GET = Query(select(*COLUMNS).where(Patient.id == bindparam("id"), KEPT), PatientRow)
# The accounts other than patient `id` that hold a phone number or e-mail address (compared as
# the unique indexes compare them; deleted patients' too: theirs stay taken until purged).
_email = func.lower(bindparam("email", type_=String))
_me = PATIENTS.alias("me")
# An address kept (in any case) is no new clash: one shared before migration 0015 stays, as the
# unique index and the trigger allow.
_new_email = ~exists().where(_me.c.id == bindparam("id"), func.lower(_me.c.email) == _email)
_HOLDERS = Query(
    union_all(
        select(
            literal("phone_no", String).label("field"),
            Patient.id,
            Patient.deleted_at.is_not(None).label("deleted"),
        ).where(
            Patient.phone_no == bindparam("phone_no", type_=String), Patient.id != bindparam("id")
        ),
        select(
            literal("email", String),
            Patient.id,
            Patient.deleted_at.is_not(None),
        ).where(func.lower(Patient.email) == _email, Patient.id != bindparam("id"), _new_email),
        select(literal("email", String), null(), false()).where(
            func.lower(Staff.email) == _email, _new_email
        ),
    ).order_by(text("id NULLS LAST")),  # the one named of several holders: always the same
    HolderRow,
)
_EXISTS = Query(select(Patient.id).where(Patient.id == bindparam("id"), KEPT), PatientIdRow)
# What `python -m app identity-clashes` reports (ids only): numbers and addresses held twice.
_PHONES = Query(select(Patient.id, Patient.phone_no).order_by(Patient.id), PatientPhoneRow)
_SHARED_EMAILS = Query(
    select(func.array_agg(Patient.id).cast(ARRAY(Text)).label("ids"))
    .where(Patient.email.is_not(None))
    .group_by(func.lower(Patient.email))
    .having(func.count() > 1),
    SharedEmailRow,
)
_EMAILS_OF_STAFF = Query(
    select(Patient.id.label("patient_id"), Staff.id.label("staff_id"))
    .join(Staff, func.lower(Staff.email) == func.lower(Patient.email))
    .order_by(Patient.id, Staff.id),
    EmailOfStaffRow,
)
# What a new password is checked against: the current one, and what it must not resemble.
_CREDENTIALS = Query(
    select(
        Patient.first_name,
        Patient.last_name,
        Patient.phone_no,
        Patient.email,
        Patient.password_hash,
    ).where(Patient.id == bindparam("id"), KEPT),
    CredentialsRow,
)
# Every field a create sets, as the history names it.
CREATED_FIELDS = tuple(field_name(name) for name in CREATED if name != "id")
_INSERT = {
    generated: Query(
        recorded(
            (
                pg_insert(PATIENTS)
                .values({name: _param(name) for name in CREATED})
                .on_conflict_do_nothing(index_elements=[Patient.id])
                if generated
                else insert(PATIENTS).values({name: _param(name) for name in CREATED})
            ).returning(*COLUMNS),
            RETURNED,
            "created",
            CREATED_FIELDS,
        ),
        PatientRow,
    )
    for generated in (True, False)
}
# The stored files of the patient's documents, read in the statement's snapshot (before the
# cascade removes their rows), so the files go once the deletion is committed.
_DOCUMENT_FILES = (
    # text[]: a type asyncpg decodes without asking the server first (varchar[] it asks about).
    select(
        func.coalesce(func.array_agg(PatientDocument.storage_name), text("'{}'")).cast(ARRAY(Text))
    )
    .where(PatientDocument.patient_id == Patient.id)
    .scalar_subquery()
    .label("documents")
)
# A purge: a patient deleted before the cutoff, removed for good (their versions, notes,
# documents and appointments with them, by the foreign keys' cascades).
_PURGE = Query(
    delete(Patient)
    .where(
        Patient.id == bindparam("id"),
        Patient.deleted_at < bindparam("cutoff", type_=PATIENTS.c.deleted_at.type),
    )
    .returning(Patient.id, Patient.profile_picture, _DOCUMENT_FILES),
    PurgedRow,
)
_EXPIRED = Query(
    select(Patient.id)
    .where(Patient.deleted_at < bindparam("cutoff", type_=PATIENTS.c.deleted_at.type))
    .order_by(Patient.deleted_at, Patient.id)
    .limit(bindparam("limit")),
    PatientIdRow,
)
_DELETED_COLUMNS = (Patient.id, Patient.first_name, Patient.last_name, Patient.deleted_at)
_DELETED_PAGE = Query(
    select(*_DELETED_COLUMNS)
    .where(Patient.deleted_at.is_not(None))
    .order_by(Patient.deleted_at.desc(), Patient.id)
    .offset(bindparam("offset"))
    .limit(bindparam("limit")),
    DeletedPatientRow,
)
_DELETED_COUNT = Counting(select(Patient.id).where(Patient.deleted_at.is_not(None)))
_DELETED = Query(
    select(*_DELETED_COLUMNS).where(Patient.id == bindparam("id"), Patient.deleted_at.is_not(None)),
    DeletedPatientRow,
)


DELETED_REASON = "The patient's record was deleted."


def _soft_delete(conditional: bool) -> Query[PatientIdRow]:
    """The patient marked deleted, and their future appointments cancelled (freeing the time),
    in one statement with the version it leaves."""
    # The patient's scheduling lock before their row's, as every write of their appointments
    # takes it (app.models.scheduling): a one-time filter, evaluated before any row is touched.
    locked = (
        select(patient_lock(bindparam("id", type_=Patient.id.type))).scalar_subquery().is_not(None)
    )
    written = (
        update(Patient)
        .where(*matching(conditional), locked)
        .values(deleted_at=func.now(), **changed())
        .returning(*COLUMNS)
        .cte("written")
    )
    cancelled = (
        update(Appointment)
        .where(
            Appointment.patient_id == select(written.c.id).scalar_subquery(),
            Appointment.starts_at > func.now(),
            Appointment.status == func.any(literal(list(ACTIVE_STATUSES), ARRAY(Text))),
        )
        .values(
            status="cancelled",
            cancellation_reason=DELETED_REASON,
            updated_at=func.now(),
            version=VERSION_SEQUENCE.next_value(),
        )
        .cte("cancelled")
    )
    version = version_of(written, "deleted", ["deleted"])
    return Query(select(written.c.id).add_cte(cancelled).add_cte(version), PatientIdRow)


_DELETE = {conditional: _soft_delete(conditional) for conditional in (True, False)}


# A patient deleted since the cutoff, back.
_UNDELETE = Query(
    recorded(
        update(Patient)
        .where(
            Patient.id == bindparam("id"),
            Patient.deleted_at >= bindparam("cutoff", type_=PATIENTS.c.deleted_at.type),
        )
        .values(deleted_at=null(), **changed())
        .returning(*COLUMNS),
        RETURNED,
        "undeleted",
        ["deleted"],
    ),
    PatientRow,
)
_ADD_TAG = {
    conditional: Query(
        recorded(
            update(Patient)
            .where(
                *matching(conditional),
                ~Patient.tags.contains(_jsonb("tags")),
                func.jsonb_array_length(Patient.tags) < MAX_TAGS,
            )
            .values(tags=Patient.tags.op("||")(_jsonb("tags")), **changed())
            .returning(*COLUMNS),
            RETURNED,
            "updated",
            ["tags"],
        ),
        PatientRow,
    )
    for conditional in (True, False)
}
_REMOVE_TAG = {
    conditional: Query(
        recorded(
            update(Patient)
            .where(*matching(conditional), Patient.tags.contains(_jsonb("tags")))
            .values(tags=Patient.tags.op("-")(bindparam("tag", type_=Text)), **changed())
            .returning(*COLUMNS),
            RETURNED,
            "updated",
            ["tags"],
        ),
        PatientRow,
    )
    for conditional in (True, False)
}
_ADD_SESSION = {
    conditional: Query(
        recorded(
            update(Patient)
            .where(*matching(conditional))
            .values(
                sessions=Patient.sessions.op("||")(_param_as("session", "sessions")), **changed()
            )
            .returning(*COLUMNS),
            RETURNED,
            "updated",
            ["sessions"],
        ),
        PatientRow,
    )
    for conditional in (True, False)
}


def _locked(columns: tuple[str, ...]) -> Any:
    """The patient's row as it is before a write of `columns`, locked for it: what the write
    compares the new values with, or learns the old ones from."""
    return (
        select(Patient.id, *(PATIENTS.c[name] for name in columns))
        .where(Patient.id == bindparam("id"), KEPT)
        .with_for_update()
        .subquery("previous")
    )


_picture_before = _locked(("profile_picture",))
# One statement: the row is locked, its picture name read and replaced, so that of two uploads
# at once each learns the name the other replaced, and no stored picture is left unreferenced.
_REPLACE_PICTURE = Query(
    recorded(
        update(Patient)
        .where(Patient.id == _picture_before.c.id)
        .values(profile_picture=bindparam("name", type_=Text), **changed())
        .returning(*COLUMNS, _picture_before.c.profile_picture.label("previous_picture")),
        [*RETURNED, "previous_picture"],
        "updated",
        ["profile_picture"],
    ),
    PictureReplacedRow,
)


@lru_cache(maxsize=256)
def _update(columns: tuple[str, ...], conditional: bool) -> Query[PatientRow]:
    """The UPDATE of these columns (a PUT's or a PATCH's), compiled once per combination; its
    version lists the fields whose values it changed."""
    previous = _locked(columns)
    write = (
        update(Patient)
        .where(Patient.id == previous.c.id, *matching(conditional))
        .values({**{name: _param(name) for name in columns}, **changed()})
        .returning(*COLUMNS, changed_fields(previous, columns))
    )
    return Query(recorded(write, RETURNED, "updated"), PatientRow)


def _restore(conditional: bool) -> Query[PatientRow]:
    """The fields a version keeps that a PUT writes, set back to theirs; the version it leaves
    names the version restored and the fields that changed."""
    previous = _locked(RESTORABLE)
    source = (
        select(*(VERSIONS.c[name] for name in RESTORABLE))
        .where(
            VERSIONS.c.patient_id == bindparam("id"),
            VERSIONS.c.version == bindparam("restored_from", type_=BigInteger),
        )
        .subquery("source")
    )
    write = (
        update(Patient)
        .where(Patient.id == previous.c.id, *matching(conditional))
        .values({**{name: source.c[name] for name in RESTORABLE}, **changed()})
        .returning(*COLUMNS, changed_fields(previous, RESTORABLE))
    )
    return Query(recorded(write, RETURNED, "restored", restored_from=True), PatientRow)


_RESTORE = {conditional: _restore(conditional) for conditional in (True, False)}


PHI_COLUMNS: Final = ("ssn", "allergies_and_medication", "sessions")
_REENCRYPT = Query(
    update(Patient)
    .where(Patient.id == bindparam("id"))
    .values({name: _param(name) for name in PHI_COLUMNS})
    .returning(Patient.id),
    PatientIdRow,
)


@lru_cache(maxsize=8)
def _encrypted_under_other_keys(key_id: str) -> Query[PatientPhiRow]:
    current = f"v1:{key_id}:%"
    stale = [encrypted_under_other_key(PATIENTS.c[name], current) for name in PHI_COLUMNS]
    statement = select(Patient.id, *(PATIENTS.c[name] for name in PHI_COLUMNS))
    # Locked until the batch commits: a session appended meanwhile is not written over.
    return Query(
        statement.where(or_(*stale))
        .order_by(Patient.id)
        .limit(bindparam("limit"))
        .with_for_update(),
        PatientPhiRow,
    )


def _like_pattern(fragment: str) -> str:
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


Shape = tuple[int, int, bool, int, bool]


def _filters(query: PatientListQuery) -> tuple[Shape, dict[str, Any]]:
    """The shape of the list's filters (what the statement depends on) and their parameters."""
    words = query.name_words()
    digits = query.phone_digits()
    params: dict[str, Any] = {f"word_{n}": _like_pattern(word) for n, word in enumerate(words)}
    params.update({f"phone_{n}": _like_pattern(each) for n, each in enumerate(digits)})
    if query.email:
        params["email"] = _like_pattern(query.email)
    params.update({f"tag_{n}": [tag] for n, tag in enumerate(query.tag)})
    if query.sex:
        params["sex"] = query.sex
    shape = (len(words), len(digits), bool(query.email), len(query.tag), bool(query.sex))
    return shape, params


def _where(words: int, phones: int, email: bool, tags: int, sex: bool) -> list[Any]:
    """The list's filters (API.md "Listing"), for the API and the admin alike."""
    conditions: list[Any] = [KEPT]
    for n in range(words):
        pattern = bindparam(f"word_{n}", type_=Text)
        conditions.append(
            or_(
                Patient.first_name.ilike(pattern, escape="\\"),
                Patient.last_name.ilike(pattern, escape="\\"),
            )
        )
    if phones:
        # phone_no is digits with an optional leading "+", so its digits are a substring of it.
        conditions.append(
            or_(
                *(
                    Patient.phone_no.like(bindparam(f"phone_{n}", type_=Text), escape="\\")
                    for n in range(phones)
                )
            )
        )
    if email:
        conditions.append(Patient.email.ilike(bindparam("email", type_=Text), escape="\\"))
    for n in range(tags):
        conditions.append(Patient.tags.contains(_jsonb(f"tag_{n}")))
    if sex:
        conditions.append(Patient.sex == bindparam("sex"))
    return conditions


@lru_cache(maxsize=256)
def _counting(shape: Shape) -> Counting:
    """The count of the ids the list's filters select, compiled once per shape."""
    return Counting(select(Patient.id).where(*_where(*shape)))


@lru_cache(maxsize=256)
def _page(shape: Shape, ordering: tuple[tuple[str, bool], ...]) -> Query[PatientRow]:
    statement = select(*COLUMNS).where(*_where(*shape))
    for column, descending in ordering:
        attribute = PATIENTS.c[column]
        statement = statement.order_by(attribute.desc() if descending else attribute.asc())
    statement = statement.order_by(Patient.id).offset(bindparam("offset"))
    return Query(statement.limit(bindparam("limit")), PatientRow)


def filtered_ids(query: PatientListQuery) -> Select[Any]:
    """The ids the list's filters select, with the values bound."""
    shape, params = _filters(query)
    return select(Patient.id).where(*_where(*shape)).params(params)


def matching_ids(query: PatientListQuery) -> ColumnElement[bool]:
    """`patients.id IN (the ids the list's filters select)`: for the admin's search, which
    finds patients as the API's list does."""
    return Patient.id.in_(filtered_ids(query))


class Taken(ValidationFailed):
    """A phone number or e-mail address another account holds: a 400 on its field that names
    nobody (the service may look up the holder for staff)."""


def _unique_violation(error: asyncpg.UniqueViolationError) -> ValidationFailed | None:
    if error.constraint_name in UNIQUE_FIELDS:
        field, message = UNIQUE_FIELDS[error.constraint_name]
        return (ValidationFailed if field == "id" else Taken).on(field, message)
    return None


class PatientRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def get(self, patient_id: str) -> PatientRow | None:
        return await self.executor.fetch_one(_GET, id=patient_id)

    async def credentials(self, patient_id: str) -> CredentialsRow | None:
        """The patient's password hash, names, phone number and e-mail address."""
        return await self.executor.fetch_one(_CREDENTIALS, id=patient_id)

    async def holders(
        self, patient_id: str, *, phone_no: str | None, email: str | None
    ) -> list[HolderRow]:
        """Who else holds this phone number or e-mail address: rows of `field`, `id` (None for
        a staff member) and `deleted`."""
        return await self.executor.fetch(_HOLDERS, id=patient_id, phone_no=phone_no, email=email)

    async def phone_numbers(self) -> list[PatientPhoneRow]:
        """Every patient's id and phone number as stored (deleted patients' too)."""
        return await self.executor.fetch(_PHONES)

    async def shared_emails(self) -> list[list[str]]:
        """The ids of each group of patients that share an e-mail address, whatever its case."""
        return sorted(sorted(row["ids"]) for row in await self.executor.fetch(_SHARED_EMAILS))

    async def emails_of_staff(self) -> list[EmailOfStaffRow]:
        """(patient_id, staff_id) of each patient whose e-mail address a staff member has."""
        return await self.executor.fetch(_EMAILS_OF_STAFF)

    async def exists(self, patient_id: str) -> bool:
        return await self.executor.fetch_one(_EXISTS, id=patient_id) is not None

    async def insert(
        self, patient_id: str, values: dict[str, Any], change: Change, *, generated: bool
    ) -> PatientRow | None:
        """Insert a patient with this id, and their first version; None when a `generated` id
        is taken already (a chosen one taken is a 400)."""
        fields = {**CREATE_DEFAULTS, **values, "id": patient_id, **change.params()}
        return await self._write(_INSERT[generated], fields)

    async def update(
        self, patient_id: str, values: dict[str, Any], change: Change, *, versions: Versions = None
    ) -> PatientRow:
        if not values:
            return await self.unchanged(patient_id, versions)
        query = _update(tuple(sorted(values)), versions is not None)
        params = {**values, "id": patient_id, **change.params(), **versioned(versions)}
        patient = await self._write(query, params)
        return patient or await self._refused(patient_id, versions)

    async def delete(self, patient_id: str, change: Change, *, versions: Versions = None) -> None:
        """Mark the patient deleted (kept until purged) and cancel their future appointments."""
        params = {"id": patient_id, **change.params(), **versioned(versions)}
        if await self.executor.fetch_one(_DELETE[versions is not None], **params) is None:
            await self._refused(patient_id, versions)

    async def undelete(
        self, patient_id: str, change: Change, *, cutoff: datetime
    ) -> PatientRow | None:
        """The patient deleted since `cutoff`, no longer deleted; None when there is none."""
        params = {"id": patient_id, "cutoff": cutoff, **change.params()}
        return await self._write(_UNDELETE, params)

    async def restore(
        self, patient_id: str, version: int, change: Change, *, versions: Versions = None
    ) -> PatientRow | None:
        """The patient's restorable fields set back to those of one of their versions; None
        when the patient or the version is not there (or If-Match is stale)."""
        params = {"id": patient_id, "restored_from": version, **change.params()}
        return await self._write(_RESTORE[versions is not None], {**params, **versioned(versions)})

    async def deleted(self, *, offset: int, limit: int) -> list[DeletedPatientRow]:
        """Deleted patients not yet purged, the latest deleted first."""
        return await self.executor.fetch(_DELETED_PAGE, offset=offset, limit=limit)

    async def count_deleted(self, *, exact_up_to: int | None) -> Count:
        return await _DELETED_COUNT.count(self.executor, {}, exact_up_to=exact_up_to)

    async def deleted_one(self, patient_id: str) -> DeletedPatientRow | None:
        return await self.executor.fetch_one(_DELETED, id=patient_id)

    async def expired(self, cutoff: datetime, *, limit: int) -> list[str]:
        """Ids of patients deleted before `cutoff`, the earliest first."""
        rows = await self.executor.fetch(_EXPIRED, cutoff=cutoff, limit=limit)
        return [row["id"] for row in rows]

    async def purge(self, patient_id: str, cutoff: datetime) -> StoredFiles | None:
        """Remove a patient deleted before `cutoff` for good; their picture's and documents'
        stored names, for the caller to remove once committed (None: not such a patient)."""
        row = await self.executor.fetch_one(_PURGE, id=patient_id, cutoff=cutoff)
        if row is None:
            return None
        return StoredFiles(row["profile_picture"], list(row["documents"]))

    async def replace_picture(
        self, patient_id: str, name: str | None, change: Change
    ) -> tuple[PatientRow, str | None]:
        """Set (or clear) the picture's stored name; the patient, and the name it replaced."""
        patient = await self.executor.fetch_one(
            _REPLACE_PICTURE, id=patient_id, name=name, **change.params()
        )
        if patient is None:
            raise NotFound
        return patient, patient["previous_picture"]

    async def add_tag(
        self, patient_id: str, tag: str, change: Change, *, versions: Versions = None
    ) -> PatientRow:
        params = {"id": patient_id, "tags": [tag], **change.params(), **versioned(versions)}
        patient = await self._write(_ADD_TAG[versions is not None], params)
        if patient is not None:
            return patient
        current = await self.unchanged(patient_id, versions)
        if tag in current["tags"]:
            return current
        raise ValidationFailed.on("tag", f"A patient may have at most {MAX_TAGS} tags.")

    async def remove_tag(
        self, patient_id: str, tag: str, change: Change, *, versions: Versions = None
    ) -> PatientRow:
        params = {"id": patient_id, "tags": [tag], "tag": tag, **change.params()}
        patient = await self._write(
            _REMOVE_TAG[versions is not None], {**params, **versioned(versions)}
        )
        return patient or await self.unchanged(patient_id, versions)

    async def add_session(
        self,
        patient_id: str,
        session: dict[str, Any],
        change: Change,
        *,
        versions: Versions = None,
    ) -> PatientRow:
        params = {"id": patient_id, "session": [session], **change.params()}
        patient = await self._write(
            _ADD_SESSION[versions is not None], {**params, **versioned(versions)}
        )
        return patient or await self._refused(patient_id, versions)

    async def encrypted_under_other_keys(self, key_id: str, *, limit: int) -> list[PatientPhiRow]:
        """Patients with a PHI field still encrypted under a key other than `key_id`, with
        those fields decrypted."""
        return await self.executor.fetch(_encrypted_under_other_keys(key_id), limit=limit)

    async def reencrypt(self, patients: list[PatientPhiRow]) -> None:
        """Write the PHI fields again, so they are encrypted under the current key (the
        patient's version is kept: their record has not changed)."""
        for patient in patients:
            await self.executor.fetch_one(
                _REENCRYPT, id=patient["id"], **{name: patient[name] for name in PHI_COLUMNS}
            )

    async def unchanged(self, patient_id: str, versions: Versions) -> PatientRow:
        """The patient a write left as it was: 404 when missing, 412 when If-Match is stale."""
        patient = await self.get(patient_id)
        if patient is None:
            raise NotFound
        if versions is not None and patient["version"] not in versions:
            raise PreconditionFailed
        return patient

    async def _refused(self, patient_id: str, versions: Versions) -> PatientRow:
        """Why a write that must change its row did not: the patient is gone, or has moved on."""
        await self.unchanged(patient_id, versions)
        raise PreconditionFailed  # it matched only after a concurrent write we did not see

    async def list(self, query: PatientListQuery, *, offset: int, limit: int) -> list[PatientRow]:
        shape, params = _filters(query)
        page = _page(shape, tuple(query.ordering_terms()))
        return await self.executor.fetch(page, **params, offset=offset, limit=limit)

    async def count(self, query: PatientListQuery, *, exact_up_to: int | None) -> Count:
        shape, params = _filters(query)
        return await _counting(shape).count(self.executor, params, exact_up_to=exact_up_to)

    async def _write(self, query: Query[PatientRow], params: dict[str, Any]) -> PatientRow | None:
        try:
            return await self.executor.fetch_one(query, **params)
        except asyncpg.UniqueViolationError as error:
            if (violation := _unique_violation(error)) is not None:
                raise violation from None
            raise

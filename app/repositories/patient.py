"""All SQL for patients. Never commits: the request's transaction does."""

import secrets
import string
from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from asyncpg.exceptions import UniqueViolationError
from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    bindparam,
    delete,
    func,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import flag_modified

from app.core.errors import NotFound, PreconditionFailed, ValidationFailed
from app.core.permissions import Principal
from app.models.patient import MAX_TAGS, VERSION_SEQUENCE, WALLET_MAX, Patient
from app.models.wallet import WalletTransaction
from app.repositories.counting import Count, count_rows
from app.schemas.patient import PatientListQuery

SelectT = TypeVar("SelectT", bound=Select[Any])

ID_ALPHABET = string.ascii_lowercase + string.digits
ID_ATTEMPTS = 10

UNIQUE_FIELDS = {
    "pk_patients": ("id", "A patient with this id already exists."),
    "uq_patients_phone_no": ("phone_no", "A patient with this phone number already exists."),
}


def new_patient_id() -> str:
    return "p_" + "".join(secrets.choice(ID_ALPHABET) for _ in range(6))


def _like_pattern(fragment: str) -> str:
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _jsonb_array(value: Any) -> ColumnElement[Any]:
    return literal([value], JSONB)


def _unique_violation(error: IntegrityError) -> ValidationFailed | None:
    cause = getattr(error.orig, "__cause__", None)
    if isinstance(cause, UniqueViolationError) and cause.constraint_name in UNIQUE_FIELDS:
        field, message = UNIQUE_FIELDS[cause.constraint_name]
        return ValidationFailed.on(field, message)
    return None


Versions = Collection[int] | None
"""The versions a conditional write accepts (from If-Match); None for an unconditional write."""


def _changed() -> dict[str, Any]:
    """What every write sets besides its own columns: a new version (the ETag) and the time."""
    return {"updated_at": func.now(), "version": VERSION_SEQUENCE.next_value()}


def _matching(patient_id: str, versions: Versions) -> list[ColumnElement[bool]]:
    conditions = [Patient.id == patient_id]
    if versions is not None:
        conditions.append(Patient.version.in_(versions))
    return conditions


def apply_filters(statement: SelectT, query: PatientListQuery) -> SelectT:
    """The list's filters (API.md "Listing"), for the API and the admin alike."""
    conditions: list[ColumnElement[bool]] = []
    for word in query.name_words():
        pattern = _like_pattern(word)
        conditions.append(
            or_(
                Patient.first_name.ilike(pattern, escape="\\"),
                Patient.last_name.ilike(pattern, escape="\\"),
            )
        )
    if digits := query.phone_digits():
        # phone_no is digits with an optional leading "+", so its digits are a substring of it.
        conditions.append(Patient.phone_no.like(_like_pattern(digits), escape="\\"))
    if query.email:
        conditions.append(Patient.email.ilike(_like_pattern(query.email), escape="\\"))
    for tag in query.tag:
        conditions.append(Patient.tags.contains(_jsonb_array(tag)))
    if query.sex:
        conditions.append(Patient.sex == query.sex)
    return statement.where(and_(*conditions)) if conditions else statement


# Built once, like the staff lookup: a patient's every request checks they still exist.
_EXISTS = select(Patient.id).where(Patient.id == bindparam("id"))


class PatientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, patient_id: str) -> Patient:
        patient = await self.session.get(Patient, patient_id)
        if patient is None:
            raise NotFound
        return patient

    async def exists(self, patient_id: str) -> bool:
        return (await self.session.scalar(_EXISTS, {"id": patient_id})) is not None

    async def credentials(
        self, patient_id: str | None = None, phone_no: str | None = None
    ) -> tuple[str, str] | None:
        """(id, password hash) of the patient with this id or phone number."""
        condition = Patient.id == patient_id if patient_id else Patient.phone_no == phone_no
        row = (
            await self.session.execute(select(Patient.id, Patient.password_hash).where(condition))
        ).first()
        return None if row is None else (row[0], row[1])

    async def set_password_hash(self, patient_id: str, password_hash: str) -> None:
        await self.session.execute(
            update(Patient).where(Patient.id == patient_id).values(password_hash=password_hash)
        )

    async def encrypted_under_other_keys(self, key_id: str, *, limit: int) -> Sequence[Patient]:
        """Patients with a PHI field still encrypted under a key other than `key_id`."""
        current = f"v1:{key_id}:%"
        stale = [
            and_(column.is_not(None), type_coerce(column, Text).not_like(current))
            for column in (Patient.ssn, Patient.allergies_and_medication)
        ]
        statement = select(Patient).where(or_(*stale)).order_by(Patient.id).limit(limit)
        return (await self.session.scalars(statement)).all()

    async def reencrypt(self, patients: Sequence[Patient]) -> None:
        """Write the PHI fields again, so they are encrypted under the current key."""
        for patient in patients:
            flag_modified(patient, "ssn")
            flag_modified(patient, "allergies_and_medication")
        await self.session.flush()

    async def create(self, values: dict[str, Any]) -> Patient:
        """Insert a patient; a generated id that collides is drawn again."""
        chosen_id = values.pop("id", None)
        for _ in range(ID_ATTEMPTS):
            statement = insert(Patient).values(id=chosen_id or new_patient_id(), **values)
            if chosen_id is None:
                statement = statement.on_conflict_do_nothing(index_elements=[Patient.id])
            patient = await self._write(statement.returning(Patient))
            if patient is not None:
                return patient
        raise ValidationFailed.on("id", "Could not generate a unique patient id; try again.")

    async def update(
        self, patient_id: str, values: dict[str, Any], *, versions: Versions = None
    ) -> Patient:
        if not values:
            return await self._unchanged(patient_id, versions)
        statement = (
            update(Patient)
            .where(*_matching(patient_id, versions))
            .values(**values, **_changed())
            .returning(Patient)
        )
        return await self._write(statement) or await self._refused(patient_id, versions)

    async def delete(self, patient_id: str, *, versions: Versions = None) -> str | None:
        """Delete the patient; returns their picture's stored name, for the caller to remove."""
        result = await self.session.execute(
            delete(Patient)
            .where(*_matching(patient_id, versions))
            .returning(Patient.profile_picture)
        )
        row = result.first()
        if row is None:
            await self._refused(patient_id, versions)
        picture: str | None = row[0] if row else None
        return picture

    async def replace_picture(
        self, patient_id: str, name: str | None
    ) -> tuple[Patient, str | None]:
        """Set (or clear) the picture under a row lock; returns the patient and the old name."""
        locked = select(Patient.profile_picture).where(Patient.id == patient_id).with_for_update()
        row = (await self.session.execute(locked)).first()
        if row is None:
            raise NotFound
        statement = (
            update(Patient)
            .where(Patient.id == patient_id)
            .values(profile_picture=name, **_changed())
            .returning(Patient)
        )
        return await self._write(statement) or await self._refused(patient_id, None), row[0]

    async def add_tag(self, patient_id: str, tag: str, *, versions: Versions = None) -> Patient:
        has_tag = Patient.tags.contains(_jsonb_array(tag))
        statement = (
            update(Patient)
            .where(
                *_matching(patient_id, versions),
                ~has_tag,
                func.jsonb_array_length(Patient.tags) < MAX_TAGS,
            )
            .values(tags=Patient.tags.op("||")(_jsonb_array(tag)), **_changed())
            .returning(Patient)
        )
        patient = await self._write(statement)
        if patient is not None:
            return patient
        current = await self._unchanged(patient_id, versions)
        if tag in current.tags:
            return current
        raise ValidationFailed.on("tag", f"A patient may have at most {MAX_TAGS} tags.")

    async def remove_tag(self, patient_id: str, tag: str, *, versions: Versions = None) -> Patient:
        statement = (
            update(Patient)
            .where(*_matching(patient_id, versions), Patient.tags.contains(_jsonb_array(tag)))
            .values(tags=Patient.tags.op("-")(literal(tag, Text)), **_changed())
            .returning(Patient)
        )
        return await self._write(statement) or await self._unchanged(patient_id, versions)

    async def add_session(
        self, patient_id: str, session: dict[str, Any], *, versions: Versions = None
    ) -> Patient:
        statement = (
            update(Patient)
            .where(*_matching(patient_id, versions))
            .values(sessions=Patient.sessions.op("||")(_jsonb_array(session)), **_changed())
            .returning(Patient)
        )
        return await self._write(statement) or await self._refused(patient_id, versions)

    async def change_wallet(
        self,
        patient_id: str,
        amount: Decimal,
        *,
        actor: Principal,
        reason: str | None = None,
        versions: Versions = None,
    ) -> Patient:
        """Add a signed amount and write its ledger row, in one statement of the caller's
        transaction: the UPDATE never loses a concurrent change, and the row lock it takes until
        commit makes `balance_after` exact (one statement also holds that lock for less time)."""
        new_balance = Patient.wallet_balance + amount
        changed = (
            update(Patient)
            .where(*_matching(patient_id, versions), new_balance.between(0, WALLET_MAX))
            .values(wallet_balance=new_balance, **_changed())
            .returning(*Patient.__table__.columns)
            .cte("changed")
        )
        entry = select(
            changed.c.id,
            literal(amount, WalletTransaction.amount.type),
            changed.c.wallet_balance,
            literal(reason, WalletTransaction.reason.type),
            literal(actor.name, WalletTransaction.actor.type),
            literal(actor.kind, WalletTransaction.actor_kind.type),
        )
        columns = ["patient_id", "amount", "balance_after", "reason", "actor", "actor_kind"]
        ledger = insert(WalletTransaction).from_select(columns, entry).cte("ledger")
        patient = await self._write(select(aliased(Patient, changed)).add_cte(ledger))
        if patient is not None:
            return patient
        current = await self._unchanged(patient_id, versions)
        if current.wallet_balance + amount < 0:
            message = "Insufficient balance: the wallet balance cannot go below 0.00."
        else:
            message = f"The wallet balance cannot exceed {WALLET_MAX}."
        raise ValidationFailed.on("amount", message)

    async def list(self, query: PatientListQuery, *, offset: int, limit: int) -> Sequence[Patient]:
        statement = apply_filters(select(Patient), query)
        for column, descending in query.ordering_terms():
            attribute = getattr(Patient, column)
            statement = statement.order_by(attribute.desc() if descending else attribute.asc())
        statement = statement.order_by(Patient.id).offset(offset).limit(limit)
        return (await self.session.scalars(statement)).all()

    async def count(self, query: PatientListQuery, *, exact_up_to: int | None) -> Count:
        rows = apply_filters(select(Patient.id), query)
        return await count_rows(self.session, rows, exact_up_to=exact_up_to)

    async def _write(self, statement: Any) -> Patient | None:
        try:
            result = await self.session.execute(
                statement, execution_options={"populate_existing": True}
            )
        except IntegrityError as error:
            if (violation := _unique_violation(error)) is not None:
                raise violation from None
            raise
        return result.scalar_one_or_none()

    async def _unchanged(self, patient_id: str, versions: Versions) -> Patient:
        """The patient a write left as it was: 404 when missing, 412 when If-Match is stale."""
        patient = await self.session.get(Patient, patient_id, populate_existing=True)
        if patient is None:
            raise NotFound
        if versions is not None and patient.version not in versions:
            raise PreconditionFailed
        return patient

    async def _refused(self, patient_id: str, versions: Versions) -> Patient:
        """Why a write that must change its row did not: the patient is gone, or has moved on."""
        await self._unchanged(patient_id, versions)
        raise PreconditionFailed  # it matched only after a concurrent write we did not see

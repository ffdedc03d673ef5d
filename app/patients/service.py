"""Every patient read and write, for the API and the admin alike: the rules around a write (the
password hashed, the session's id and time, the audited completion) are written here once."""

import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement

from app.auth.notices import ChangedBy, email_changed, password_changed
from app.auth.passwords import (
    PATIENT_ATTRIBUTES,
    Attributes,
    check_similarity,
    patient_attributes,
)
from app.auth.permissions import patient_principal
from app.auth.reauth import Reauthentication
from app.auth.sessions import end_all_sessions
from app.core.conditional import Versions
from app.core.config import get_settings
from app.core.errors import NotFound, ValidationFailed
from app.core.security import hash_password
from app.db.counting import Count
from app.patients.repository import (
    PatientRepository,
    Taken,
    matching_ids,
    new_patient_id,
)
from app.patients.schemas import (
    CredentialsRow,
    DeletedPatientDueRow,
    HolderRow,
    PatientCreate,
    PatientListQuery,
    PatientRow,
    PatientUpdate,
    PatientVersionRow,
    SessionCreate,
    VersionChangeRow,
    session_document,
)
from app.patients.versions import Change, HistoryRepository
from app.requests.work import UnitOfWork

T = TypeVar("T")

ID_ATTEMPTS = 10


WRONG_PASSWORD = "Your old password was entered incorrectly. Please enter it again."  # noqa: S105
NEEDED = "This field is required to change your own password."


def list_filter(query: PatientListQuery) -> ColumnElement[bool]:
    """The API list's filters as one condition on patients (not deleted among them), for the
    admin's own reads: its list and search find the patients the API's list finds."""
    return matching_ids(query)


async def writable(payload: PatientUpdate) -> dict[str, Any]:
    """The columns a write sets: only what was sent, with the password replaced by its hash."""
    values = payload.model_dump(exclude_unset=True)
    values.pop("current_password", None)
    values.pop("reason", None)
    if (password := values.pop("password", None)) is not None:
        values["password_hash"] = await hash_password(password)
    return values


class PatientService:
    """Runs in a unit of work; each method's last statement completes it (with its audit event)."""

    def __init__(self, work: UnitOfWork) -> None:
        self.work = work
        self.patients = PatientRepository(work)
        self.history = HistoryRepository(work)

    async def get(self, patient_id: str) -> PatientRow:
        patient = await self.work.completed_by(self.patients.get(patient_id))
        if patient is None:
            raise NotFound
        return patient

    async def exists(self, patient_id: str) -> bool:
        return await self.patients.exists(patient_id)

    async def create(self, payload: PatientCreate, *, reason: str | None = None) -> PatientRow:
        """Create a patient; an id is drawn when none is chosen, and again if it is taken."""
        check_similarity(payload.password, _resembled(payload, None))
        values = await self._writable(payload)
        chosen = values.pop("id", None)
        change = await Change.by(self.work, payload.reason or reason)
        for _ in range(ID_ATTEMPTS):
            patient_id = chosen or new_patient_id()
            self.work.entry.patient_id = patient_id  # the audit event names the new patient
            patient = await self._written(
                self.patients.insert(patient_id, values, change, generated=chosen is None),
                patient_id,
                values,
                by_patient=False,
            )
            if patient is not None:
                return patient
        raise ValidationFailed.on("id", "Could not generate a unique patient id; try again.")

    async def update(
        self,
        patient_id: str,
        payload: PatientUpdate,
        *,
        versions: Versions = None,
        by_patient: Reauthentication | None = None,
        reason: str | None = None,
    ) -> PatientRow:
        """Change what the payload sends. A new password ends every session of the patient, in
        the same transaction; patients changing their own (`by_patient`) must give the current
        one, whose failures are failed logins of theirs. A new password or e-mail address is
        announced to the address the patient had (the only one they had, for a first one)."""
        new_password = payload.password is not None and "password" in payload.model_fields_set
        new_email = "email" in payload.model_fields_set
        before = None
        if new_password or new_email:
            before = await self.patients.credentials(patient_id)
            if before is None:
                raise NotFound
        if new_password:
            assert before is not None
            await self._check_new_password(patient_id, payload, before, by_patient)
        values = await self._writable(payload)
        change = await Change.by(self.work, payload.reason or reason)
        if new_password:
            await self.work.begin()
            await end_all_sessions(self.work, patient_principal(patient_id))
        patient = await self._written(
            self.patients.update(patient_id, values, change, versions=versions),
            patient_id,
            values,
            by_patient=by_patient is not None,
        )
        if before is not None:
            by = ChangedBy.STAFF if by_patient is None else ChangedBy.OWNER
            self._announce(before, patient, new_password=new_password, by=by)
        return patient

    async def _written(
        self, write: Awaitable[T], patient_id: str, values: dict[str, Any], *, by_patient: bool
    ) -> T:
        """`write`, the work's completing statement. A phone number or e-mail address another
        account holds is a 400 on its field (the unique indexes refuse it): a patient is not told
        whose it is, nor even that it is someone's; staff are told whom to look up or restore,
        read only once the write is refused, so a write that succeeds costs no look-up."""
        try:
            return await self.work.completed_by(write)
        except Taken:
            if by_patient:
                raise
            await self.work.abandon()
            holders = await self.patients.holders(
                patient_id, phone_no=values.get("phone_no"), email=values.get("email")
            )
            if not holders:  # the holder changed theirs meanwhile
                raise
        errors: dict[str, list[str]] = {}
        for holder in holders:
            errors.setdefault(holder["field"], [_held_by(holder)])
        raise ValidationFailed(errors)

    async def _check_new_password(
        self,
        patient_id: str,
        payload: PatientUpdate,
        account: CredentialsRow,
        by_patient: Reauthentication | None,
    ) -> None:
        assert payload.password is not None
        await self.work.idle()  # no pooled connection held through a 35 ms hash
        if by_patient is not None:
            if payload.current_password is None:
                raise ValidationFailed.on("current_password", NEEDED)
            patient = patient_principal(patient_id)
            if not await by_patient.verify(
                patient, payload.current_password, account["password_hash"]
            ):
                raise ValidationFailed.on("current_password", WRONG_PASSWORD)
        check_similarity(payload.password, _resembled(payload, account))

    def _announce(
        self, before: CredentialsRow, after: PatientRow, *, new_password: bool, by: ChangedBy
    ) -> None:
        """Tell the patient, at the address they had, that their password or address changed."""
        old, new = before["email"], after["email"]
        if new_password and (address := old or new):
            self.work.notify(password_changed(address, by))
        if old and (new or "").lower() != old.lower():
            self.work.notify(email_changed(old, by))

    async def delete(
        self, patient_id: str, *, versions: Versions = None, reason: str | None = None
    ) -> None:
        """Delete the patient: gone from every view, kept for the retention period (an admin
        may restore them), then purged. Their future appointments are cancelled."""
        change = await Change.by(self.work, reason)
        await self.work.completed_by(self.patients.delete(patient_id, change, versions=versions))

    async def undelete(self, patient_id: str, *, reason: str | None = None) -> PatientRow:
        """A deleted patient back, within the retention period. Sessions they had are not:
        each of them was ended, so the patient logs in again."""
        change = await Change.by(self.work, reason)
        await self.work.begin()
        await end_all_sessions(self.work, patient_principal(patient_id))
        patient = await self.work.completed_by(
            self.patients.undelete(patient_id, change, cutoff=retention_cutoff())
        )
        if patient is not None:
            return patient
        if await self.patients.exists(patient_id):
            raise ValidationFailed.on("non_field_errors", "This patient is not deleted.")
        if await self.patients.deleted_one(patient_id) is not None:
            raise ValidationFailed.on(
                "non_field_errors",
                "This patient was deleted longer ago than the retention period allows to "
                "restore; the next purge removes them.",
            )
        raise NotFound

    async def restore(
        self,
        patient_id: str,
        version: int,
        *,
        versions: Versions = None,
        reason: str | None = None,
    ) -> PatientRow:
        """Set the patient's fields back to one of their versions, as a new version."""
        change = await Change.by(self.work, reason)
        patient = await self.work.completed_by(
            self.patients.restore(patient_id, version, change, versions=versions)
        )
        if patient is not None:
            return patient
        await self.patients.unchanged(patient_id, versions)  # 404: no patient; 412: stale
        raise NotFound  # the patient is there, as If-Match says: the version is not

    async def history_page(
        self, patient_id: str, *, offset: int, limit: int
    ) -> list[VersionChangeRow]:
        return await self.work.completed_by(
            self.history.page(patient_id, offset=offset, limit=limit)
        )

    async def count_history(self, patient_id: str, *, exact_up_to: int | None) -> Count:
        if not await self.patients.exists(patient_id):
            raise NotFound
        return await self.history.count(patient_id, exact_up_to=exact_up_to)

    async def version(
        self, patient_id: str, version: int
    ) -> tuple[PatientVersionRow, PatientVersionRow | None]:
        """One version of the patient, and the one before it (what it changed from)."""
        found = await self.work.completed_by(self.history.version(patient_id, version))
        if found is None:
            raise NotFound
        return found

    async def history_records(
        self, patient_id: str, *, offset: int, limit: int
    ) -> list[PatientVersionRow]:
        """Versions with the record each left, newest first (the admin's history page)."""
        return await self.work.completed_by(
            self.history.records(patient_id, offset=offset, limit=limit)
        )

    async def deleted(self, *, offset: int, limit: int) -> list[DeletedPatientDueRow]:
        """Deleted patients not yet purged, each with `purge_after`: until then an admin may
        restore them."""
        rows = await self.work.completed_by(self.patients.deleted(offset=offset, limit=limit))
        return [{**row, "purge_after": row["deleted_at"] + _retention()} for row in rows]

    async def count_deleted(self, *, exact_up_to: int | None) -> Count:
        return await self.patients.count_deleted(exact_up_to=exact_up_to)

    async def add_tag(
        self, patient_id: str, tag: str, *, versions: Versions = None, reason: str | None = None
    ) -> PatientRow:
        change = await Change.by(self.work, reason)
        return await self.work.completed_by(
            self.patients.add_tag(patient_id, tag, change, versions=versions)
        )

    async def remove_tag(
        self, patient_id: str, tag: str, *, versions: Versions = None, reason: str | None = None
    ) -> PatientRow:
        change = await Change.by(self.work, reason)
        return await self.work.completed_by(
            self.patients.remove_tag(patient_id, tag, change, versions=versions)
        )

    async def add_session(
        self,
        patient_id: str,
        session: SessionCreate,
        *,
        versions: Versions = None,
        reason: str | None = None,
    ) -> PatientRow:
        document = session_document(
            session, session_id=str(uuid.uuid4()), created_at=datetime.now(UTC)
        )
        change = await Change.by(self.work, reason)
        return await self.work.completed_by(
            self.patients.add_session(patient_id, document, change, versions=versions)
        )

    async def _writable(self, payload: PatientUpdate) -> dict[str, Any]:
        if "password" in payload.model_fields_set:
            await self.work.idle()  # no pooled connection held through a 35 ms hash
        return await writable(payload)

    async def count(self, query: PatientListQuery, *, exact_up_to: int | None) -> Count:
        return await self.patients.count(query, exact_up_to=exact_up_to)

    async def list(self, query: PatientListQuery, *, offset: int, limit: int) -> list[PatientRow]:
        return await self.work.completed_by(self.patients.list(query, offset=offset, limit=limit))


WHAT = {"phone_no": "phone number", "email": "e-mail address"}


def _held_by(holder: HolderRow) -> str:
    """What staff are told of the account holding a phone number or e-mail address."""
    what = WHAT[holder["field"]]
    if holder["id"] is None:
        return f"A staff member has this {what}; an address names one account only."
    if holder["deleted"]:
        return (
            f"Patient {holder['id']} has this {what}: they were deleted and keep it until "
            f"purged. An admin may restore them (POST /api/deleted-patients/{holder['id']}/"
            f"restore/, or the admin's deleted patients), then change it."
        )
    return f"Patient {holder['id']} already has this {what}."


def _retention() -> timedelta:
    return timedelta(days=get_settings().patient_retention_days)


def retention_cutoff() -> datetime:
    """Patients deleted before this may no longer be restored, and are purged."""
    return datetime.now(UTC) - _retention()


def _resembled(payload: PatientUpdate, stored: CredentialsRow | None) -> Attributes:
    """What a patient's password must not resemble, as the write leaves the patient (`stored`:
    as they are, None for a new one)."""
    sent = payload.model_dump(include=set(PATIENT_ATTRIBUTES), exclude_unset=True)
    left = sent if stored is None else {**stored, **sent}
    return patient_attributes(left)

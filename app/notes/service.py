"""Every clinical-note read and write; who may do it is app.auth.record's table, asked here
with the caller's party to the note (author, patient) from rows read anyway.

Progress notes are part of the record: staff read them (a draft only its author and admins),
only the appointment's therapist writes, signs and amends them, another staff member may
co-sign, and a patient reads their own appointments' signed notes unless withheld.

Psychotherapy notes (45 CFR 164.501) are their author's alone: any other caller, admins
included, is refused, and the refusal is audited with the patient it concerns. They are
disclosed only to the recipient of an unexpired authorization that the author entered
(164.508)."""

import json
from datetime import UTC, datetime
from typing import Any

from app.auth.permissions import Principal
from app.auth.record import Act, Party, allows, decide, party, permit, someone_elses
from app.core.conditional import Versions
from app.core.config import Settings
from app.core.errors import (
    NON_FIELD_ERRORS,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationFailed,
)
from app.db.counting import Count
from app.notes.repository import NoteRepository
from app.notes.schemas import (
    AddendumCreate,
    AddendumRow,
    AuthorizationCreate,
    AuthorizationRow,
    NoteAppointmentRow,
    NoteCreate,
    NoteRow,
    NoteUpdate,
    PsychotherapyNoteCreate,
    PsychotherapyNoteRow,
    Withholding,
    check_fields,
    unwritten,
    withholding_problem,
)
from app.requests.work import UnitOfWork

STALE = "The note has changed since you read it: If-Match does not match its current ETag."
SIGNED_IS_FINAL = (
    "A signed note cannot be changed; add an addendum to correct it "
    "(POST .../addenda/), or withhold it (POST .../withhold/)."
)
ALREADY_SIGNED = "The note is already signed."
ADDENDA_AFTER_SIGNING = "Only a signed note takes addenda; change the draft itself instead."
COSIGN_SIGNED_ONLY = "Only a signed note can be co-signed."
ALREADY_COSIGNED = "The note is already co-signed."
NO_PATIENT = "No patient has this id."
NOT_THEIR_APPOINTMENT = "The appointment must be one of this patient's with you."
NO_RECIPIENT = "No active staff member has this username."
NOT_TO_SELF = "The recipient must be another staff member than the author."
NOT_IN_FUTURE = "The expiry must be in the future."
ALREADY_REVOKED = "The authorization is already revoked."


def _staff_id(actor: Principal) -> int | None:
    return int(actor.id) if actor.is_staff else None


class NoteService:
    """Runs in a unit of work: reads audit at its end; writes run in one transaction."""

    def __init__(self, work: UnitOfWork, settings: Settings) -> None:
        self.work = work
        self.zone = settings.clinic_zone
        self.notes = NoteRepository(work)

    # Progress notes: reads.

    async def visibility(self, appointment_id: int, actor: Principal) -> dict[str, Any]:
        """Which of the appointment's notes the caller sees (refused as the table says): what
        the list's count and page filter by, the appointment read once for both."""
        appointment = await self._appointment(appointment_id, actor)
        return _visibility(actor, appointment["patient_id"])

    async def list_notes(
        self, appointment_id: int, visibility: dict[str, Any], *, offset: int, limit: int
    ) -> list[tuple[NoteRow, list[AddendumRow]]]:
        rows = await self.notes.visible(appointment_id, visibility, offset=offset, limit=limit)
        return await self._with_addenda(rows)

    async def count_notes(
        self, appointment_id: int, visibility: dict[str, Any], *, exact_up_to: int | None
    ) -> Count:
        return await self.notes.count_visible(appointment_id, visibility, exact_up_to=exact_up_to)

    async def get(
        self, appointment_id: int, note_id: int, actor: Principal
    ) -> tuple[NoteRow, list[AddendumRow]]:
        await self._appointment(appointment_id, actor)
        note = await self.notes.get(appointment_id, note_id)
        if note is None or not _sees(note, _party(note, actor)):
            raise NotFound
        return note, await self.notes.addenda([note["id"]])

    # Progress notes: writes.

    async def create(self, appointment_id: int, payload: NoteCreate, actor: Principal) -> NoteRow:
        await self.work.begin()
        appointment = await self._appointment(appointment_id, actor)
        decide(Act.NOTES_WRITE, _appointment_party(appointment, actor))
        _check_withholding(payload.withheld, payload.withheld_reason)
        return await self.notes.insert(
            {
                "appointment_id": appointment_id,
                "patient_id": appointment["patient_id"],
                "author_id": appointment["therapist_id"],
                "template": payload.template,
                "fields": json.dumps(payload.fields),
                "withheld": payload.withheld,
                "withheld_reason": payload.withheld_reason if payload.withheld else None,
            }
        )

    async def update(
        self,
        appointment_id: int,
        note_id: int,
        payload: NoteUpdate,
        actor: Principal,
        *,
        versions: Versions,
    ) -> tuple[NoteRow, list[AddendumRow]]:
        note = await self._for_change(appointment_id, note_id, actor, versions, Act.NOTES_WRITE)
        if note["status"] == "signed":
            raise ValidationFailed.on(NON_FIELD_ERRORS, SIGNED_IS_FINAL)
        sent = payload.model_fields_set
        values: dict[str, Any] = {}
        template = payload.template or note["template"]
        if template != note["template"]:
            values["template"] = template
        if "fields" in sent or "template" in values:
            fields = payload.fields if "fields" in sent else json.loads(note["fields"])
            try:
                values["fields"] = json.dumps(check_fields(template, fields))
            except ValueError as failed:
                raise ValidationFailed.on("fields", str(failed)) from None
        withheld = note["withheld"] if payload.withheld is None else payload.withheld
        reason = payload.withheld_reason if "withheld_reason" in sent else note["withheld_reason"]
        if {"withheld", "withheld_reason"} & sent:
            _check_withholding(withheld, reason)
            values.update(withheld=withheld, withheld_reason=reason if withheld else None)
        if values:
            note = await self.notes.update(note_id, values)
        return note, await self.notes.addenda([note_id])

    async def sign(
        self, appointment_id: int, note_id: int, actor: Principal, *, versions: Versions
    ) -> tuple[NoteRow, list[AddendumRow]]:
        note = await self._for_change(appointment_id, note_id, actor, versions, Act.NOTES_WRITE)
        if note["status"] == "signed":
            raise ValidationFailed.on(NON_FIELD_ERRORS, ALREADY_SIGNED)
        if (empty := unwritten(note["template"], json.loads(note["fields"]))) is not None:
            raise ValidationFailed.on("fields", empty)
        values = {"status": "signed", "signed_by": int(actor.id), "signed_at": datetime.now(UTC)}
        note = await self.notes.update(note_id, values)
        return note, []

    async def add_addendum(
        self, appointment_id: int, note_id: int, payload: AddendumCreate, actor: Principal
    ) -> tuple[NoteRow, list[AddendumRow]]:
        note = await self._for_change(appointment_id, note_id, actor, None, Act.NOTES_WRITE)
        if note["status"] != "signed":
            raise ValidationFailed.on(NON_FIELD_ERRORS, ADDENDA_AFTER_SIGNING)
        await self.notes.add_addendum(note_id, int(actor.id), payload.text)
        note = await self.notes.new_version(note_id)
        return note, await self.notes.addenda([note_id])

    async def cosign(
        self, appointment_id: int, note_id: int, actor: Principal, *, versions: Versions
    ) -> tuple[NoteRow, list[AddendumRow]]:
        note = await self._for_change(appointment_id, note_id, actor, versions, Act.NOTES_COSIGN)
        if note["status"] != "signed":
            raise ValidationFailed.on(NON_FIELD_ERRORS, COSIGN_SIGNED_ONLY)
        if note["cosigned_by"] is not None:
            raise ValidationFailed.on(NON_FIELD_ERRORS, ALREADY_COSIGNED)
        decide(Act.NOTES_COSIGN, _party(note, actor))
        values = {"cosigned_by": int(actor.id), "cosigned_at": datetime.now(UTC)}
        note = await self.notes.update(note_id, values)
        return note, await self.notes.addenda([note_id])

    async def withhold(
        self,
        appointment_id: int,
        note_id: int,
        payload: Withholding,
        actor: Principal,
        *,
        versions: Versions,
    ) -> tuple[NoteRow, list[AddendumRow]]:
        note = await self._for_change(appointment_id, note_id, actor, versions, Act.NOTES_WITHHOLD)
        _check_withholding(payload.withheld, payload.withheld_reason)
        reason = payload.withheld_reason if payload.withheld else None
        note = await self.notes.update(
            note_id, {"withheld": payload.withheld, "withheld_reason": reason}
        )
        return note, await self.notes.addenda([note_id])

    # Progress notes: rules.

    async def _appointment(self, appointment_id: int, actor: Principal) -> NoteAppointmentRow:
        appointment = await self.notes.appointment(appointment_id)
        if appointment is None:
            raise NotFound
        self.work.entry.patient_id = appointment["patient_id"]
        decide(Act.NOTES_READ, _appointment_party(appointment, actor))
        return appointment

    async def _for_change(
        self,
        appointment_id: int,
        note_id: int,
        actor: Principal,
        versions: Versions,
        act: Act,
    ) -> NoteRow:
        """The note, locked, if the caller sees it and may `act` on it (a 400 of the table is
        the act's to raise, after its own checks)."""
        await self.work.begin()
        await self._appointment(appointment_id, actor)
        note = await self.notes.get(appointment_id, note_id, for_update=True)
        if note is None or not _sees(note, who := _party(note, actor)):
            raise NotFound
        permit(act, who)
        if versions is not None and note["version"] not in versions:
            raise PreconditionFailed(STALE)
        return note

    async def _with_addenda(self, rows: list[NoteRow]) -> list[tuple[NoteRow, list[AddendumRow]]]:
        addenda = await self.notes.addenda([row["id"] for row in rows])
        by_note: dict[int, list[AddendumRow]] = {row["id"]: [] for row in rows}
        for addendum in addenda:
            by_note[addendum["note_id"]].append(addendum)
        return [(row, by_note[row["id"]]) for row in rows]

    # Psychotherapy notes.

    async def create_psychotherapy_note(
        self, payload: PsychotherapyNoteCreate, actor: Principal
    ) -> PsychotherapyNoteRow:
        self.work.entry.patient_id = payload.patient
        decide(Act.PSYCHOTHERAPY_WRITE, party(actor, patient_id=payload.patient))
        await self.work.begin()
        if not await self.notes.patient_exists(payload.patient):
            raise ValidationFailed.on("patient", NO_PATIENT)
        if payload.appointment is not None:
            appointment = await self.notes.appointment(payload.appointment)
            if appointment is None or (
                appointment["patient_id"] != payload.patient
                or appointment["therapist_id"] != int(actor.id)
            ):
                raise ValidationFailed.on("appointment", NOT_THEIR_APPOINTMENT)
        return await self.notes.add_psychotherapy_note(
            {
                "patient_id": payload.patient,
                "appointment_id": payload.appointment,
                "author_id": int(actor.id),
                "text": payload.text,
            }
        )

    def _own_list(self, patient: str | None, actor: Principal) -> int:
        """The author whose notes the list shows: the caller, a therapist (anyone else: 403)."""
        if patient is not None:
            self.work.entry.patient_id = patient
        decide(Act.PSYCHOTHERAPY_LIST, party(actor, patient_id=patient))
        return int(actor.id)

    async def list_psychotherapy_notes(
        self, patient: str | None, actor: Principal, *, offset: int, limit: int
    ) -> list[PsychotherapyNoteRow]:
        author = self._own_list(patient, actor)
        return await self.notes.own_psychotherapy_notes(author, patient, offset=offset, limit=limit)

    async def count_psychotherapy_notes(
        self, patient: str | None, actor: Principal, *, exact_up_to: int | None
    ) -> Count:
        author = self._own_list(patient, actor)
        return await self.notes.count_own_psychotherapy_notes(
            author, patient, exact_up_to=exact_up_to
        )

    async def get_psychotherapy_note(self, note_id: int, actor: Principal) -> PsychotherapyNoteRow:
        return await self._psychotherapy_note(note_id, actor, Act.PSYCHOTHERAPY_READ)

    async def authorize_disclosure(
        self, note_id: int, payload: AuthorizationCreate, actor: Principal
    ) -> AuthorizationRow:
        await self.work.begin()
        note = await self._psychotherapy_note(note_id, actor, Act.PSYCHOTHERAPY_AUTHORIZE)
        recipient = await self.notes.active_staff_id(payload.recipient)
        if recipient is None:
            raise ValidationFailed.on("recipient", NO_RECIPIENT)
        if recipient == note["author_id"]:
            raise ValidationFailed.on("recipient", NOT_TO_SELF)
        if payload.expires_at <= datetime.now(UTC):
            raise ValidationFailed.on("expires_at", NOT_IN_FUTURE)
        return await self.notes.authorize(
            {
                "note_id": note_id,
                "granted_by": note["author_id"],
                "recipient_id": recipient,
                "purpose": payload.purpose,
                "expires_at": payload.expires_at,
            }
        )

    async def check_authorizations_list(self, note_id: int, actor: Principal) -> None:
        """Refuse anyone but the note's author the list of its authorizations (read once for
        the list's count and page)."""
        await self._psychotherapy_note(note_id, actor, Act.PSYCHOTHERAPY_AUTHORIZATIONS)

    async def list_authorizations(
        self, note_id: int, *, offset: int, limit: int
    ) -> list[AuthorizationRow]:
        return await self.notes.authorizations(note_id, offset=offset, limit=limit)

    async def count_authorizations(self, note_id: int, *, exact_up_to: int | None) -> Count:
        return await self.notes.count_authorizations(note_id, exact_up_to=exact_up_to)

    async def revoke_authorization(
        self, note_id: int, authorization_id: int, actor: Principal
    ) -> AuthorizationRow:
        """Revoke the authorization: from now on it discloses nothing. Once: a second
        revocation is a 400, and the first one's time and author stay."""
        await self.work.begin()
        await self._psychotherapy_note(note_id, actor, Act.PSYCHOTHERAPY_AUTHORIZATIONS)
        authorization = await self.notes.authorization(note_id, authorization_id, for_update=True)
        if authorization is None:
            raise NotFound
        if authorization["revoked_at"] is not None:
            raise ValidationFailed.on(NON_FIELD_ERRORS, ALREADY_REVOKED)
        return await self.notes.revoke(note_id, authorization_id, int(actor.id))

    async def disclose(
        self, note_id: int, authorization_id: int | None, actor: Principal
    ) -> tuple[PsychotherapyNoteRow, AuthorizationRow]:
        """The note, for the recipient of this unexpired, unrevoked authorization of it; 403
        otherwise, whoever asks (admins and the author too: they need none, or read it
        directly)."""
        note = await self._psychotherapy_note(note_id, actor, None)
        who = _party(note, actor)
        permit(Act.PSYCHOTHERAPY_DISCLOSE, who, recipient=True)
        if authorization_id is None:
            raise PermissionDenied
        authorization = await self.notes.authorization(note_id, authorization_id)
        recipient = (
            authorization is not None
            and authorization["recipient_id"] == int(actor.id)
            and authorization["revoked_at"] is None
            and authorization["expires_at"] > datetime.now(UTC)
        )
        decide(Act.PSYCHOTHERAPY_DISCLOSE, who, recipient=recipient)
        assert authorization is not None
        return note, authorization

    async def _psychotherapy_note(
        self, note_id: int, actor: Principal, act: Act | None
    ) -> PsychotherapyNoteRow:
        """The note, if the caller may `act` on it. One that does not exist is a 403 too, to
        everyone: a refusal must not tell a note that exists from one that does not."""
        note = await self.notes.psychotherapy_note(note_id)
        if note is None:
            raise PermissionDenied
        self.work.entry.patient_id = note["patient_id"]
        if act is not None:
            decide(act, _party(note, actor))  # admins too: audited as refused on this patient
        return note


def _party(row: NoteRow | PsychotherapyNoteRow, actor: Principal) -> Party:
    return party(actor, patient_id=row["patient_id"], author_id=row["author_id"])


def _appointment_party(appointment: NoteAppointmentRow, actor: Principal) -> Party:
    """The caller's party to an appointment's notes, which its therapist writes."""
    return party(actor, patient_id=appointment["patient_id"], author_id=appointment["therapist_id"])


def _visibility(actor: Principal, patient_id: str) -> dict[str, Any]:
    """Which notes of an appointment the caller sees (the list's filter, as _sees decides):
    others' drafts, their own, withheld ones."""
    others = someone_elses(actor, patient_id=patient_id)
    return {
        "drafts": allows(Act.NOTES_READ_DRAFT, others),
        "me": (_staff_id(actor) or 0) if allows(Act.NOTES_READ_DRAFT, Party.AUTHOR) else 0,
        "withheld": allows(Act.NOTES_READ_WITHHELD, others),
    }


def _sees(note: NoteRow, who: Party) -> bool:
    if note["withheld"] and not allows(Act.NOTES_READ_WITHHELD, who):
        return False
    return allows(Act.NOTES_READ if note["status"] == "signed" else Act.NOTES_READ_DRAFT, who)


def _check_withholding(withheld: bool, reason: str | None) -> None:
    if (problem := withholding_problem(withheld, reason)) is not None:
        raise ValidationFailed.on("withheld_reason", problem)

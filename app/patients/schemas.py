from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, TypedDict

from fastapi import Response
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from app.auth.schemas import CurrentPassword, Password
from app.core.conditional import tag
from app.core.fields import Money, Omittable, SearchTerm, blank_to_none, drop_blank
from app.core.phones import canonical_phone, digits_of
from app.core.schemas import BaseSchema
from app.core.urls import Links
from app.models.patient import ORDERABLE
from app.patients import examples
from app.patients.fields import (
    AboutNote,
    AddedNote,
    Address,
    BirthDate,
    ChangeReason,
    DurationMinutes,
    Email,
    MedicalText,
    Name,
    PatientId,
    PhoneNo,
    SessionDate,
    SessionNotes,
    Sex,
    Ssn,
    Tag,
    TagFilter,
    Tags,
    Therapist,
)


# The rows its statements return: TypedDicts, checked against each statement when it is
# compiled (app.db.query).
class RecordRow(TypedDict):
    """The record's own columns, as a patient holds them and each version keeps them."""

    first_name: str
    last_name: str
    phone_no: str
    allergies_and_medication: str
    date_of_birth: date
    sex: str
    ssn: str | None
    email: str | None
    address: str | None
    added_note: str | None
    about_note: str | None
    profile_picture: str | None
    tags: list[str]
    wallet_balance: Decimal
    sessions: list[dict[str, Any]]


class PatientRow(RecordRow):
    """A patient as every read and write returns them: all but the password hash and the time
    of a deletion."""

    id: str
    version: int
    created_at: datetime
    updated_at: datetime


class PictureReplacedRow(PatientRow):
    """A patient whose picture was set or cleared, and the stored name it replaced."""

    previous_picture: str | None


class PatientIdRow(TypedDict):
    id: str


class HolderRow(TypedDict):
    """An account that holds a phone number or e-mail address: a patient's id, or None for a
    staff member."""

    field: str
    id: str | None
    deleted: bool


class PatientPhoneRow(TypedDict):
    id: str
    phone_no: str


class SharedEmailRow(TypedDict):
    """The ids of the patients that share one e-mail address."""

    ids: list[str]


class EmailOfStaffRow(TypedDict):
    patient_id: str
    staff_id: int


class CredentialsRow(TypedDict):
    """A patient's password hash, and what a new password must not resemble."""

    first_name: str
    last_name: str
    phone_no: str
    email: str | None
    password_hash: str


class PurgedRow(TypedDict):
    """A patient removed for good, and the stored names of their files."""

    id: str
    profile_picture: str | None
    documents: list[str]


class DeletedPatientRow(TypedDict):
    id: str
    first_name: str
    last_name: str
    deleted_at: datetime


class DeletedPatientDueRow(DeletedPatientRow):
    """A deleted patient with the time they are purged after (computed, not a column)."""

    purge_after: datetime


class PatientPhiRow(TypedDict):
    """A patient's PHI fields, decrypted."""

    id: str
    ssn: str | None
    allergies_and_medication: str
    sessions: list[dict[str, Any]]


class VersionChangeRow(TypedDict):
    """What a version says of its change: who, when, why, which fields."""

    version: int
    at: datetime
    actor: str
    actor_kind: str
    action: str
    reason: str | None
    changed: list[str]
    restored_from: int | None


class PatientVersionRow(VersionChangeRow, RecordRow):
    """A version with the record it left."""

    patient_id: str


class VersionPhiRow(TypedDict):
    """A version's PHI fields, decrypted."""

    patient_id: str
    version: int
    ssn: str | None
    allergies_and_medication: str
    sessions: list[dict[str, Any]]


class VersionNumberRow(TypedDict):
    version: int


class PatientUpdate(BaseSchema):
    """PATCH: any subset of the writable fields."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.PATIENT_UPDATE]})

    first_name: Omittable[Name] = None
    last_name: Omittable[Name] = None
    phone_no: Omittable[PhoneNo] = None
    allergies_and_medication: Omittable[MedicalText] = None
    date_of_birth: Omittable[BirthDate] = None
    sex: Omittable[Sex] = None
    ssn: Ssn | None = None
    email: Email | None = None
    address: Address | None = None
    added_note: AddedNote | None = None
    about_note: AboutNote | None = None
    tags: Omittable[Tags] = None
    password: Omittable[Password] = None
    current_password: Omittable[CurrentPassword] = Field(
        default=None,
        description="The password now: required when patients change their own `password`.",
    )
    reason: ChangeReason | None = Field(
        default=None,
        description="Why the record changes: kept with the version the write makes in the "
        "record's history (as the `X-Change-Reason` header is, which this overrides). Not a "
        "field of the patient.",
    )


class PatientReplace(PatientUpdate):
    """PUT: every required field; an omitted optional field is left unchanged."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.PATIENT_REPLACE]})

    first_name: Name
    last_name: Name
    phone_no: PhoneNo
    allergies_and_medication: MedicalText
    date_of_birth: BirthDate
    sex: Sex


class PatientCreate(PatientReplace):
    """POST: as PUT, plus a password, and an id that is generated when absent."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.PATIENT_CREATE]})

    id: Omittable[PatientId] = None
    password: Password


class SessionCreate(BaseSchema):
    """A therapy session to append; `date` is required."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.SESSION_CREATE]})

    date: SessionDate
    duration_minutes: DurationMinutes | None = None
    therapist: Therapist | None = None
    notes: SessionNotes | None = None


class SessionRead(BaseSchema):
    """A therapy session in the patient's history."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.SESSION]})

    id: str
    date: datetime
    duration_minutes: int | None
    therapist: str | None
    notes: str | None
    created_at: datetime
    appointment: int | None = Field(
        default=None,
        description="The appointment this session was (an appointment marked fulfilled adds "
        "its session); null for a session recorded with add_session.",
    )


class TagAction(BaseSchema):
    """The tag to add or remove (trimmed)."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.TAG_ACTION]})

    tag: Tag


class PatientRead(BaseSchema):
    """A patient, as every endpoint returns it (`password` is never returned)."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.PATIENT]})
    list_path: ClassVar[str] = "/api/patients/"

    id: str
    first_name: str
    last_name: str
    phone_no: str
    allergies_and_medication: str
    date_of_birth: date
    sex: Sex
    ssn: str | None
    email: str | None
    address: str | None
    added_note: str | None
    about_note: str | None
    profile_picture: str | None = Field(
        description="The absolute URL of the picture, when there is one."
    )
    tags: list[str]
    wallet_balance: Money = Field(examples=["0.00"])
    sessions: list[SessionRead]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, patient: PatientRow, links: Links) -> "PatientRead":
        """The patient's answer; the stored picture name becomes the picture's URL."""
        if patient["profile_picture"] is not None:
            patient = {**patient, "profile_picture": links.to(picture_path(patient["id"]))}
        return cls.model_validate(patient)


class PatientRecord(BaseSchema):
    """A patient's record as one version left it (no picture: a replaced one's file is gone)."""

    first_name: str
    last_name: str
    phone_no: str
    allergies_and_medication: str
    date_of_birth: date
    sex: Sex
    ssn: str | None
    email: str | None
    address: str | None
    added_note: str | None
    about_note: str | None
    has_profile_picture: bool
    tags: list[str]
    wallet_balance: Money = Field(examples=["0.00"])
    sessions: list[SessionRead]


class PatientVersionRead(BaseSchema):
    """One change of a patient's record: who, when, why, and which fields it changed."""

    list_path: ClassVar[str] = "/api/patients/p_zxcp0h/history/"

    model_config = ConfigDict(json_schema_extra={"examples": [examples.PATIENT_VERSION]})

    version: int = Field(description="The patient's version (their ETag) after the change.")
    url: str = Field(description="The absolute URL of this version, with the record as it was.")
    at: datetime
    actor: str = Field(description="Who changed it: a staff username or a patient id.")
    actor_kind: Literal["staff", "patient", "cli", "system"]
    action: Literal["baseline", "created", "updated", "deleted", "undeleted", "restored"] = Field(
        description="`baseline`: the record as it stood when history began (migration 0013)."
    )
    reason: str | None = Field(description="The `reason` or `X-Change-Reason` sent, if any.")
    changed: list[str] = Field(
        description="The fields whose values the change set differently (`password` when the "
        "password changed; encrypted fields sent are listed, being written anew)."
    )
    restored_from: int | None = Field(description="The version a `restored` change brought back.")

    @classmethod
    def of(cls, version: VersionChangeRow, patient_id: str, links: Links) -> "PatientVersionRead":
        return cls.model_validate({**version, "url": links.to(version_path(patient_id, version))})


class FieldChange(BaseSchema):
    """A field's value before a change (null for a new record) and after it."""

    before: Any
    after: Any


class PatientVersionDetail(PatientVersionRead):
    """A version with the record as it left it, and its changes against the version before."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.PATIENT_VERSION_DETAIL]})

    record: PatientRecord
    changes: dict[str, FieldChange] = Field(
        description="Each changed field of the record, before and after (the password is "
        "never shown)."
    )

    @classmethod
    def of_pair(
        cls,
        version: PatientVersionRow,
        before: PatientVersionRow | None,
        patient_id: str,
        links: Links,
    ) -> "PatientVersionDetail":
        url = links.to(version_path(patient_id, version))
        return cls.model_validate(
            {
                **version,
                "url": url,
                "record": record_of(version),
                "changes": changes_between(version, before),
            }
        )


def record_of(version: PatientVersionRow) -> PatientRecord:
    return PatientRecord.model_validate(
        {**version, "has_profile_picture": version["profile_picture"] is not None}
    )


def changes_between(
    version: PatientVersionRow, before: PatientVersionRow | None
) -> dict[str, FieldChange]:
    """Each field of the record a version changed, as it was before (None for a new record)
    and after; the password is never shown."""
    after = record_of(version).model_dump(mode="json")
    previous = None if before is None else record_of(before).model_dump(mode="json")
    names = [
        "has_profile_picture" if name == "profile_picture" else name for name in version["changed"]
    ]
    return {
        name: FieldChange(before=None if previous is None else previous[name], after=after[name])
        for name in names
        if name in after
    }


def version_path(patient_id: str, version: VersionChangeRow) -> str:
    return f"/api/patients/{patient_id}/history/{version['version']}/"


class RestoreRequest(BaseSchema):
    """Why a version, or a deleted patient, is restored (optional)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Edited by mistake."}]})

    reason: ChangeReason | None = None


class DeletedPatientRead(BaseSchema):
    """A deleted patient, kept until `purge_after`; until then an admin may restore them."""

    list_path: ClassVar[str] = "/api/deleted-patients/"

    model_config = ConfigDict(json_schema_extra={"examples": [examples.DELETED_PATIENT]})

    id: str
    first_name: str
    last_name: str
    deleted_at: datetime
    purge_after: datetime


def patient_answer(patient: PatientRow, links: Links, response: Response) -> PatientRead:
    """The patient as the API answers them, with their version as the ETag."""
    tag(response, patient["version"])
    return PatientRead.of(patient, links)


def picture_path(patient_id: str) -> str:
    return f"api/patients/{patient_id}/profile_picture/"


def session_document(
    session: SessionCreate, *, session_id: str, created_at: datetime
) -> dict[str, Any]:
    """The JSON stored for one session in the patient's append-only history."""
    return SessionRead(id=session_id, created_at=created_at, **session.model_dump()).model_dump(
        mode="json"
    )


class PatientListQuery(BaseSchema):
    """The list's filters and ordering; empty values are ignored, as django-filter does."""

    name: SearchTerm | None = Field(
        default=None, description="Every word must match first or last name."
    )
    phone: SearchTerm | None = Field(
        default=None, description="Digits to find anywhere in the phone number."
    )
    email: SearchTerm | None = Field(
        default=None, description="Case-insensitive substring of the email."
    )
    tag: Annotated[TagFilter, AfterValidator(drop_blank)] = Field(
        default_factory=list, description="Exact tag; repeat for all of several."
    )
    sex: Annotated[Sex | None, BeforeValidator(blank_to_none)] = None
    ordering: str | None = Field(
        default=None,
        description=f"Comma-separated of {', '.join(ORDERABLE)}; '-' for descending.",
        examples=["-created_at"],
    )

    def name_words(self) -> list[str]:
        return (self.name or "").split()

    def phone_digits(self) -> list[str]:
        """The digits to find (API.md "Listing"), and those of the query's canonical form when
        it is a whole number whose canonical digits do not hold them (011 44 20…, +44 020…)."""
        digits = digits_of(self.phone or "")
        if not digits:
            return []
        canonical = digits_of(
            canonical_phone(digits if "+" not in (self.phone or "") else "+" + digits)
        )
        if 9 <= len(digits) <= 15 and digits not in canonical:
            return [digits, canonical]
        return [digits]

    def ordering_terms(self) -> list[tuple[str, bool]]:
        """(column, descending) pairs; unknown fields are dropped, as DRF's OrderingFilter does."""
        terms: list[tuple[str, bool]] = []
        for raw in (self.ordering or "").split(","):
            term = raw.strip()
            column = term.removeprefix("-")
            if column in ORDERABLE and column not in (seen for seen, _ in terms):
                terms.append((column, term.startswith("-")))
        return terms or [("created_at", True)]

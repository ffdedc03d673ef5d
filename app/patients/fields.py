"""The patient's field rules of API.md, each written once and shared by every schema that uses
the field (the API's and the admin's forms alike)."""

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, Field

from app.core.fields import (
    MultilineText,
    SearchTerm,
    Text,
    UtcInstant,
    documented,
    error,
    matching,
    not_bool,
)
from app.core.phones import canonical_phone
from app.models.history import REASON_MAX_LENGTH
from app.models.patient import MAX_TAGS, PATIENT_ID, PHONE_NO

SSN_RE = re.compile(r"[0-9]{3}-[0-9]{2}-[0-9]{4}")
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


def _check_email(value: str) -> str:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise error("email", "Enter a valid email address.") from None
    return value


def _canonical_phone(value: str) -> str:
    return canonical_phone(value)


def _parse_date(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not DATE_RE.fullmatch(value):
        raise error(
            "date_format", "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
        )
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise error("date_invalid", "Enter a valid date.") from None


def _check_birth_date(value: date) -> date:
    if value > datetime.now(UTC).date():
        raise error("date_of_birth", "Date of birth cannot be in the future.")
    if value < EARLIEST_BIRTH_DATE:
        raise error("date_of_birth", "Date of birth cannot be before 1900-01-01.")
    return value


def _check_unique_tags(tags: list[str]) -> list[str]:
    if len(set(tags)) != len(tags):
        raise error("tags_unique", "Tags must be unique (after trimming).")
    return tags


PatientId = Annotated[
    str,
    matching(
        PATIENT_ID,
        "patient_id",
        'Patient id must be "p_" followed by 6 lowercase letters or digits.',
    ),
    documented(PATIENT_ID),
]
Name = Annotated[Text, Field(min_length=1, max_length=100)]
PhoneNo = Annotated[
    Text,
    Field(
        min_length=1,
        description="Stored and answered in E.164 form: a number without its country code is "
        "of PHONE_DEFAULT_REGION (4155550123 is +14155550123).",
    ),
    matching(PHONE_NO, "phone_no", "Phone number must be 9-15 digits, optionally starting with +."),
    documented(PHONE_NO),
    # Stored, compared and answered in one form: E.164 (app.core.phones).
    AfterValidator(_canonical_phone),
]
MedicalText = Annotated[MultilineText, Field(max_length=5000)]
BirthDate = Annotated[date, BeforeValidator(_parse_date), AfterValidator(_check_birth_date)]
Sex = Literal["M", "F", "O", "P"]
Ssn = Annotated[
    Text, matching(SSN_RE, "ssn", "SSN must be in the format 123-45-6789."), documented(SSN_RE)
]
Email = Annotated[
    Text,
    Field(max_length=254, json_schema_extra={"format": "idn-email"}),
    AfterValidator(_check_email),
]
Address = Annotated[MultilineText, Field(max_length=500)]
AddedNote = Annotated[MultilineText, Field(max_length=500)]
AboutNote = Annotated[MultilineText, Field(max_length=250)]
Tag = Annotated[Text, Field(min_length=1, max_length=50)]
Tags = Annotated[
    list[Tag],
    Field(max_length=MAX_TAGS, json_schema_extra={"uniqueItems": True}),
    AfterValidator(_check_unique_tags),
]

SessionDate = UtcInstant
# Constraints before the bool check, so the schema states them as minimum and maximum.
DurationMinutes = Annotated[int, Field(ge=1, le=480), not_bool("A valid integer is required.")]
Therapist = Annotated[Text, Field(max_length=100)]
SessionNotes = Annotated[MultilineText, Field(max_length=2000)]
ChangeReason = Annotated[Text, Field(max_length=REASON_MAX_LENGTH)]

TagFilter = Annotated[list[SearchTerm], Field(max_length=MAX_TAGS)]

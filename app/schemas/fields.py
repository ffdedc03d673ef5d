"""The field rules of API.md, each written once and shared by every schema that uses the field."""

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from app.models.patient import MAX_TAGS
from app.models.wallet import REASON_MAX_LENGTH

T = TypeVar("T")

PATIENT_ID_RE = re.compile(r"p_[a-z0-9]{6}")
PHONE_RE = re.compile(r"\+?[0-9]{9,15}")
SSN_RE = re.compile(r"[0-9]{3}-[0-9]{2}-[0-9]{4}")
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
SURROGATE_RE = re.compile("[\ud800-\udfff]")
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


def _error(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _reject_null(value: Any) -> Any:
    if value is None:
        raise _error("null", "This field may not be null.")
    return value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text or jsonb; DRF refuses it with this message too.
    if "\x00" in value:
        raise _error("null_characters", "Null characters are not allowed.")
    return value


def _no_surrogates(value: Any) -> Any:
    # A lone "\ud800" in JSON decodes to a str that no database driver can encode (DRF's message).
    if isinstance(value, str) and (found := SURROGATE_RE.search(value)):
        code_point = ord(found.group())
        raise _error(
            "surrogate_characters", f"Surrogate characters are not allowed: U+{code_point:X}."
        )
    return value


def _not_bool(message: str) -> BeforeValidator:
    """JSON true/false would otherwise pass as 1/0."""

    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise _error("bool_rejected", message)
        return value

    return BeforeValidator(check)


def _not_nullable(schema: dict[str, Any]) -> None:
    """The OpenAPI schema of an Omittable field: the type itself, without `null`."""
    variants = [v for v in schema.pop("anyOf", []) if v != {"type": "null"}]
    if len(variants) == 1:
        schema.update(variants[0])
    elif variants:
        schema["anyOf"] = variants
    schema.pop("default", None)


# A field that may be left out but, when sent, may not be null.
Omittable = Annotated[
    T | None, BeforeValidator(_reject_null), Field(json_schema_extra=_not_nullable)
]

Text = Annotated[
    str, BeforeValidator(_strip), BeforeValidator(_no_surrogates), AfterValidator(_no_nul)
]


def _check_patient_id(value: str) -> str:
    if not PATIENT_ID_RE.fullmatch(value):
        raise _error(
            "patient_id", 'Patient id must be "p_" followed by 6 lowercase letters or digits.'
        )
    return value


def _check_phone(value: str) -> str:
    if not PHONE_RE.fullmatch(value):
        raise _error("phone_no", "Phone number must be 9-15 digits, optionally starting with +.")
    return value


def _check_ssn(value: str) -> str:
    if not SSN_RE.fullmatch(value):
        raise _error("ssn", "SSN must be in the format 123-45-6789.")
    return value


def _check_email(value: str) -> str:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise _error("email", "Enter a valid email address.") from None
    return value


def _parse_date(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not DATE_RE.fullmatch(value):
        raise _error(
            "date_format", "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
        )
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _error("date_invalid", "Enter a valid date.") from None


def _check_birth_date(value: date) -> date:
    if value > datetime.now(UTC).date():
        raise _error("date_of_birth", "Date of birth cannot be in the future.")
    if value < EARLIEST_BIRTH_DATE:
        raise _error("date_of_birth", "Date of birth cannot be before 1900-01-01.")
    return value


def _require_datetime_string(value: Any) -> Any:
    # pydantic alone would also read "1700000000" as a Unix time; the contract says ISO 8601.
    if not (isinstance(value, datetime) or (isinstance(value, str) and DATE_RE.match(value))):
        raise _error(
            "datetime_type", "Datetime has wrong format. Use ISO 8601, e.g. 2024-05-01T14:30:00Z."
        )
    return value


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-01:00 is past the last representable datetime
        raise _error("datetime_overflow", "Datetime value out of range.") from None


def _check_unique_tags(tags: list[str]) -> list[str]:
    if len(set(tags)) != len(tags):
        raise _error("tags_unique", "Tags must be unique (after trimming).")
    return tags


def _check_nonzero(value: Decimal) -> Decimal:
    if value == 0:
        raise _error("amount_zero", "Amount must not be zero.")
    return value.quantize(Decimal("0.01"))


def _documented(pattern: re.Pattern[str]) -> Any:
    """The regex a validator checks, stated in the OpenAPI schema (the validator's message wins)."""
    return Field(json_schema_extra={"pattern": f"^{pattern.pattern}$"})


PatientId = Annotated[str, AfterValidator(_check_patient_id), _documented(PATIENT_ID_RE)]
Password = Annotated[
    str,
    BeforeValidator(_no_surrogates),
    Field(min_length=8, max_length=64),
    AfterValidator(_no_nul),
]
Name = Annotated[Text, Field(min_length=1, max_length=100)]
PhoneNo = Annotated[Text, Field(min_length=1), AfterValidator(_check_phone), _documented(PHONE_RE)]
MedicalText = Annotated[Text, Field(max_length=5000)]
BirthDate = Annotated[date, BeforeValidator(_parse_date), AfterValidator(_check_birth_date)]
Sex = Literal["M", "F", "O", "P"]
Ssn = Annotated[Text, AfterValidator(_check_ssn), _documented(SSN_RE)]
Email = Annotated[
    Text,
    Field(max_length=254, json_schema_extra={"format": "idn-email"}),
    AfterValidator(_check_email),
]
Address = Annotated[Text, Field(max_length=500)]
AddedNote = Annotated[Text, Field(max_length=500)]
AboutNote = Annotated[Text, Field(max_length=250)]
Tag = Annotated[Text, Field(min_length=1, max_length=50)]
Tags = Annotated[
    list[Tag],
    Field(max_length=MAX_TAGS, json_schema_extra={"uniqueItems": True}),
    AfterValidator(_check_unique_tags),
]

SessionDate = Annotated[
    datetime, BeforeValidator(_require_datetime_string), AfterValidator(_as_utc)
]
# Constraints before the bool check, so the schema states them as minimum and maximum.
DurationMinutes = Annotated[int, Field(ge=1, le=480), _not_bool("A valid integer is required.")]
Therapist = Annotated[Text, Field(max_length=100)]
SessionNotes = Annotated[Text, Field(max_length=2000)]
WalletReason = Annotated[Text, Field(max_length=REASON_MAX_LENGTH)]

# A list filter: nothing it searches is longer than an email, and each word or tag of it becomes
# a query parameter, so thousands of them would overflow the database's limit of parameters.
SearchTerm = Annotated[Text, Field(max_length=254)]
TagFilter = Annotated[list[SearchTerm], Field(max_length=MAX_TAGS)]

Amount = Annotated[
    Decimal,
    Field(decimal_places=2, ge=-1_000_000, le=1_000_000),
    _not_bool("A valid number is required."),
    AfterValidator(_check_nonzero),
]

PageCount = Annotated[
    int,
    Field(
        ge=0,
        description="Matches in all: exact up to LIST_EXACT_COUNT_LIMIT (1,000), PostgreSQL's "
        "estimate beyond, and exact on the last page.",
    ),
]

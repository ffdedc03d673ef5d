"""Rules every text and datetime field of the API shares, and the building blocks of the
domains' own field rules (app/patients/fields.py and the like), each written once."""

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

T = TypeVar("T")

SURROGATE_RE = re.compile("[\ud800-\udfff]")


def error(kind: str, message: str) -> PydanticCustomError:
    """A validation error whose message is the contract's (app.core.errors renders it as is)."""
    return PydanticCustomError(kind, message)


def blank_to_none(value: Any) -> Any:
    """A query parameter sent empty (`?sex=`) is as good as absent, as django-filter has it."""
    return None if value == "" else value


def drop_blank(value: Any) -> Any:
    """A repeated query parameter's empty values are ignored."""
    return [item for item in value if item] if isinstance(value, list) else value


def _reject_null(value: Any) -> Any:
    if value is None:
        raise error("null", "This field may not be null.")
    return value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text or jsonb; DRF refuses it with this message too.
    if "\x00" in value:
        raise error("null_characters", "Null characters are not allowed.")
    return value


def no_surrogates(value: Any) -> Any:
    # A lone "\ud800" in JSON decodes to a str that no database driver can encode (DRF's message).
    if isinstance(value, str) and (found := SURROGATE_RE.search(value)):
        code_point = ord(found.group())
        raise error(
            "surrogate_characters", f"Surrogate characters are not allowed: U+{code_point:X}."
        )
    return value


def not_bool(message: str) -> BeforeValidator:
    """JSON true/false would otherwise pass as 1/0."""

    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise error("bool_rejected", message)
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


def documented(pattern: re.Pattern[str]) -> Any:
    """The regex a validator checks, stated in the OpenAPI schema (the validator's message wins)."""
    return Field(json_schema_extra={"pattern": f"^{pattern.pattern}$"})


def matching(pattern: re.Pattern[str], kind: str, message: str) -> AfterValidator:
    """A whole-string match of `pattern`, refused with the contract's `message`."""

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise error(kind, message)
        return value

    return AfterValidator(check)


# A field that may be left out but, when sent, may not be null.
Omittable = Annotated[
    T | None, BeforeValidator(_reject_null), Field(json_schema_extra=_not_nullable)
]

Text = Annotated[
    str, BeforeValidator(_strip), BeforeValidator(no_surrogates), AfterValidator(no_nul)
]

# A list filter: nothing it searches is longer than an email, and each word or tag of it becomes
# a query parameter, so thousands of them would overflow the database's limit of parameters.
SearchTerm = Annotated[Text, Field(max_length=254)]


# Every datetime the API takes (bodies and query parameters alike): RFC 3339, ISO 8601's profile
# with an offset (a date, `T` or a space, a time, an offset), text only (a number is no time), in
# the years 1900 to 2999 as written. The range keeps every computation on it (a conversion to
# UTC, a window's default end, a reminder's lead) far from the last datetime Python represents,
# where 9999-12-31T23:00:00-14:00 used to overflow into a 500.
DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"([Zz]|[+-][0-9]{2}:?[0-9]{2})?"
)
DATETIME_FORMAT = "Datetime has wrong format. Use ISO 8601, e.g. 2024-05-01T14:30:00Z."
EARLIEST_YEAR, LATEST_YEAR = 1900, 2999
DATETIME_RANGE = f"Use a date between {EARLIEST_YEAR} and {LATEST_YEAR}."
OFFSET_NEEDED = "Include a time zone offset, e.g. 2026-03-30T09:00:00+02:00."


def in_range(moment: date) -> bool:
    """Whether the date (or datetime, as written) is in the years the API takes."""
    return EARLIEST_YEAR <= moment.year <= LATEST_YEAR


def _parsed(value: Any, *, naive_is_utc: bool) -> datetime:
    no_surrogates(value)
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and DATETIME_RE.fullmatch(value.strip()):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise error("datetime_parsing", DATETIME_FORMAT) from None
    else:
        raise error("datetime_parsing", DATETIME_FORMAT)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        if not naive_is_utc:
            raise error("timezone_naive", OFFSET_NEEDED)
        parsed = parsed.replace(tzinfo=UTC)
    if not in_range(parsed):
        raise error("datetime_range", DATETIME_RANGE)
    return parsed


def _instant(value: Any) -> datetime:
    return _parsed(value, naive_is_utc=False)


def _utc_instant(value: Any) -> datetime:
    return _parsed(value, naive_is_utc=True).astimezone(UTC)


def _documented(offset: str) -> Any:
    return Field(
        description=f"ISO 8601 {offset}, in the years {EARLIEST_YEAR} to {LATEST_YEAR}.",
        json_schema_extra={"format": "date-time"},
        examples=["2026-03-30T09:00:00+02:00"],
    )


# An instant with the offset it was given in.
Instant = Annotated[datetime, BeforeValidator(_instant), _documented("with an offset")]
# The same rule, but a datetime without an offset is read as UTC (as DRF reads a session's
# `date`, API.md), and the instant is given in UTC.
UtcInstant = Annotated[
    datetime, BeforeValidator(_utc_instant), _documented("(without an offset: UTC)")
]

"""Rules every text, amount and datetime field of the API shares, and the building blocks of
the domains' own field rules (app/patients/fields.py and the like), each written once.

Text comes in two kinds. `Text` is one line (names, tags, titles, reasons, usernames, tokens):
it refuses every control character, line breaks and tabs included: it ends up in iCalendar
properties, mail subjects and one-line displays, which a line break would split.
`MultilineText` (notes, medical text, addresses) keeps line feeds, carriage returns and tabs
and refuses the other control characters. Both refuse lone surrogates and NUL, and are
trimmed. `amount` is the one rule of a sum of money (a wallet's change, a fee). `Instant` and
`UtcInstant` are the one rule of a datetime. `Npi` and `Icd10Code` are the rules of a provider's
National Provider Identifier and of a diagnosis code, which a superbill carries to an insurer.
"""

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

T = TypeVar("T")

SURROGATE_RE = re.compile("[\ud800-\udfff]")
# Control characters (Unicode's Cc: C0, DEL, C1), and the line and paragraph separators, which
# split a line as a line feed does.
_LINE_BREAKING = "[\x00-\x1f\x7f-\x9f\u2028\u2029]"
_SINGLE_LINE_REFUSED = re.compile(_LINE_BREAKING)
_CONTROL_RUN = re.compile(_LINE_BREAKING + "+")
_MULTILINE_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
NOT_A_NUMBER = "A valid number is required."
AMOUNT_FORMAT = (
    "Enter the amount in plain digits, with an optional leading minus and at most 2 decimal "
    "places, e.g. 25.50 or -10."
)
AMOUNT_RE = re.compile(r"-?[0-9]+(\.[0-9]{1,2})?")
AMOUNT_DIGITS_RE = re.compile(r"-?[0-9]+\.[0-9]+")  # plain, but with too many decimal places
CENT = Decimal("0.01")
SINGLE_LINE_MESSAGE = "Line breaks, tabs and other control characters are not allowed"
MULTILINE_MESSAGE = "Control characters other than line breaks and tabs are not allowed"


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


def _refuse(found: re.Match[str] | None, message: str) -> None:
    if found is not None:
        raise error("control_characters", f"{message}: U+{ord(found.group()):04X}.")


def single_line(value: str) -> str:
    """One line of text: no control character at all (NUL has its own message, above)."""
    _refuse(_SINGLE_LINE_REFUSED.search(value), SINGLE_LINE_MESSAGE)
    return value


def multiline(value: str) -> str:
    """Free text: line breaks and tabs are kept, other control characters refused."""
    _refuse(_MULTILINE_REFUSED.search(value), MULTILINE_MESSAGE)
    return value


def check_multiline(value: str) -> str:
    """The rule of `MultilineText`, untrimmed, for text inside a structure (a note's fields)."""
    return multiline(no_nul(no_surrogates(value)))


def one_line(value: str) -> str:
    """Stored text made fit for one line of output (an iCalendar property, a mail): each run of
    control characters becomes a space. For rows written before the single-line rule."""
    return _CONTROL_RUN.sub(" ", value).strip()


class JsonNumber(float):
    """A JSON number that is not an integer, as the request's parser read it: the float, and the
    literal it was written as (app.core.routing), so that `Amount` can hold it to its rule."""

    literal: str

    def __new__(cls, literal: str) -> "JsonNumber":
        number = super().__new__(cls, literal)
        number.literal = literal
        return number


def _amount_text(value: Any) -> str:
    """The amount as the client wrote it (a JSON number's literal), or a 400 when it is not a
    number at all."""
    if isinstance(value, str):
        return value
    if value is None:
        raise error("null", "This field may not be null.")
    if isinstance(value, JsonNumber):
        return value.literal
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):  # from Python rather than JSON: its shortest form
        return repr(value)
    if isinstance(value, Decimal) and value.is_finite():  # from Python, or a huge JSON integer
        return format(value, "f")
    raise error("amount_not_a_number", NOT_A_NUMBER)


Money = Annotated[Decimal, PlainSerializer(lambda v: f"{v:.2f}", return_type=str)]
"""An amount of money as the API answers it: a string with two decimal places."""


def amount(minimum: Decimal, maximum: Decimal) -> BeforeValidator:
    """A sum of money between `minimum` and `maximum`: plain ASCII digits, a leading minus, at
    most 2 decimal places, as a string or a JSON number; quantized to cents."""

    def check(value: Any) -> Decimal:
        text = _amount_text(value)
        if not AMOUNT_RE.fullmatch(text):
            try:
                parsed = Decimal(text)
            except (InvalidOperation, ValueError):
                parsed = None
            if parsed is None or not parsed.is_finite():
                raise error("amount_not_a_number", NOT_A_NUMBER)
            if AMOUNT_DIGITS_RE.fullmatch(text):
                raise error("amount_places", "Ensure that there are no more than 2 decimal places.")
            raise error("amount_format", AMOUNT_FORMAT)
        parsed = Decimal(text)
        if parsed > maximum:
            raise error("amount_range", f"Ensure this value is less than or equal to {maximum}.")
        if parsed < minimum:
            raise error("amount_range", f"Ensure this value is greater than or equal to {minimum}.")
        return parsed.quantize(CENT)

    return BeforeValidator(check)


def amount_schema(minimum: Decimal, maximum: Decimal) -> WithJsonSchema:
    """What `amount` accepts, as OpenAPI states it."""
    bounds = {"minimum": float(minimum), "maximum": float(maximum)}
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": f"^{AMOUNT_RE.pattern}$"},
                {"type": "number", "multipleOf": 0.01, **bounds},
            ],
            "examples": ["25.50"],
        }
    )


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
    str,
    BeforeValidator(_strip),
    BeforeValidator(no_surrogates),
    AfterValidator(no_nul),
    AfterValidator(single_line),
]
MultilineText = Annotated[
    str,
    BeforeValidator(_strip),
    BeforeValidator(no_surrogates),
    AfterValidator(no_nul),
    AfterValidator(multiline),
]

# A list filter: nothing it searches is longer than an email, and each word or tag of it becomes
# a query parameter, so thousands of them would overflow the database's limit of parameters.
# Tabs and line breaks separate its words as spaces do; other control characters are refused.
SearchTerm = Annotated[MultilineText, Field(max_length=254)]


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


# A National Provider Identifier: 10 digits, the last a Luhn check digit computed, as CMS
# specifies, over the first nine prefixed with 80840 (the NPI's issuer number in ISO 7812).
NPI_RE = re.compile(r"[0-9]{10}")
NPI_PREFIX = "80840"
NPI_FORMAT = "An NPI is 10 digits, e.g. 1234567893."
NPI_CHECK_DIGIT = (
    "This is not a valid NPI: its last digit is not the check digit of the nine before it."
)


def luhn_check_digit(digits: str) -> int:
    """The digit that makes `digits` followed by it pass the Luhn check."""
    total = 0
    # From the right, every other digit (starting with the rightmost) is doubled.
    for position, character in enumerate(reversed(digits)):
        digit = int(character)
        if position % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return (10 - total % 10) % 10


def npi_problem(value: str) -> str | None:
    """Why `value` is not an NPI, or None when it is one."""
    if not NPI_RE.fullmatch(value):
        return NPI_FORMAT
    if luhn_check_digit(NPI_PREFIX + value[:9]) != int(value[9]):
        return NPI_CHECK_DIGIT
    return None


def _npi(value: str) -> str:
    problem = npi_problem(value)
    if problem is not None:
        raise error("npi_format" if problem == NPI_FORMAT else "npi_check_digit", problem)
    return value


Npi = Annotated[
    Text,
    Field(
        description="A National Provider Identifier: 10 digits, the last its check digit "
        "(Luhn, over 80840 and the first nine, as CMS specifies).",
        examples=["1234567893"],
    ),
    documented(NPI_RE),
    AfterValidator(_npi),
]

# An ICD-10-CM code: a category of three (a letter, a digit, a letter or digit), then after a dot
# one to four characters more. Typed in any case and with or without its dot; kept upper case
# with the dot, so that f411 and F41.1 are one code.
ICD10_RE = re.compile(r"[A-Za-z][0-9][0-9A-Za-z](\.?[0-9A-Za-z]{1,4})?")
ICD10_FORMAT = (
    "Enter an ICD-10-CM code: a letter, a digit, a letter or digit, then optionally a dot and 1 "
    "to 4 letters or digits, e.g. F41.1."
)


def _icd10(value: str) -> str:
    if not ICD10_RE.fullmatch(value):
        raise error("icd10_format", ICD10_FORMAT)
    code = value.upper().replace(".", "")
    return f"{code[:3]}.{code[3:]}" if len(code) > 3 else code


Icd10Code = Annotated[
    Text,
    Field(
        description="An ICD-10-CM diagnosis code, e.g. F41.1: a letter, a digit, a letter or "
        "digit, then optionally a dot and 1-4 letters or digits; kept upper case with its dot "
        "(f411 is F41.1).",
        examples=["F41.1"],
    ),
    documented(ICD10_RE),
    AfterValidator(_icd10),
]

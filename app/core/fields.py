"""Rules every text field of the API shares, and the building blocks of the domains' own field
rules (app/patients/fields.py and the like), each written once."""

import re
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

"""Row ids as their columns hold them. An id outside its column's range names nothing: it is
simply not found (a 404) and never reaches the database, whose integer types would refuse it."""

from typing import Any

from fastapi import Path

INTEGER_MAX = 2**31 - 1  # an `integer` identity column (staff)
BIGINT_MAX = 2**63 - 1  # a `bigint` one (appointments, notes, documents, versions, …)


def parse_id(text: str, maximum: int = BIGINT_MAX) -> int | None:
    """The id `text` spells in digits, or None when it cannot name a row."""
    if text.isascii() and text.isdigit() and len(text) <= len(str(maximum)):
        number = int(text)
        if 0 < number <= maximum:
            return number
    return None


def id_path(description: str, example: int, maximum: int = BIGINT_MAX) -> Any:
    """The `Path()` of an id parameter: `Annotated[int, id_path("The note's id.", 12)]`."""
    return Path(description=description, examples=[example], ge=1, le=maximum)

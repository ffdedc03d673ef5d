"""Row ids as their columns hold them. An id outside its column's range names nothing: it is
simply not found (a 404) and never reaches the database, whose integer types would refuse it."""

from typing import Any

from fastapi import Path
from sqlalchemy import BigInteger, ColumnElement, Integer, SmallInteger
from sqlalchemy.orm import QueryableAttribute

INTEGER_MAX = 2**31 - 1  # an `integer` identity column (staff)
BIGINT_MAX = 2**63 - 1  # a `bigint` one (appointments, notes, documents, versions, …)


def id_maximum(column: ColumnElement[Any] | QueryableAttribute[Any]) -> int:
    """The largest id an integer column holds, by its type."""
    assert isinstance(column.type, Integer), f"{column} is not an integer column"
    if isinstance(column.type, BigInteger):
        return BIGINT_MAX
    if isinstance(column.type, SmallInteger):
        return 2**15 - 1
    return INTEGER_MAX


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

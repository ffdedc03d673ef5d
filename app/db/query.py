"""SQLAlchemy statements compiled once and run on asyncpg directly.

The models and every statement are SQLAlchemy's; executing through SQLAlchemy's async session
cost a request about 300 µs of CPU per statement (the greenlet bridge, the ORM, result
processing), more than the rest of a read by id. A `Query` compiles its statement once, at
import, for the asyncpg dialect (`$1` parameters), and remembers the few conversions asyncpg
does not do itself: the types decorated in app.db.types (PHI encrypted at rest), both ways.
JSON and JSONB are converted by codecs on each connection (app.db.database).

Every statement declares the row it returns, a TypedDict: `Query(statement, PatientRow)`. Its
keys are checked against the statement's columns when the statement is compiled (at import), so
a misspelt or missing column fails before the first request, and mypy checks every lookup of a
row by column name. At run time a row is still the plain dict asyncpg's record becomes: the
declaration costs a request nothing.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypedDict, TypeVar, cast, is_typeddict

import asyncpg
from sqlalchemy import Executable, TypeDecorator
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement, ColumnElement
from sqlalchemy.sql.visitors import iterate
from sqlalchemy.types import TypeEngine

R = TypeVar("R", bound=Mapping[str, Any])
"""The row a statement returns: a TypedDict of its columns, with every value converted."""


class NoRow(TypedDict):
    """The row of a statement that returns none (a write without RETURNING)."""


class RowMismatch(TypeError):
    """A statement's declared row does not name exactly the columns it returns."""


Convert = Callable[[Any], Any]

DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


def _decorated(type_: TypeEngine[Any]) -> TypeDecorator[Any] | None:
    """The type's own conversion in Python, if it has one on PostgreSQL (SQLAlchemy's Interval,
    say, is decorated only for databases without one)."""
    impl = type_.dialect_impl(DIALECT)
    return impl if isinstance(impl, TypeDecorator) else None


def _bind_converter(type_: TypeEngine[Any]) -> Convert | None:
    if (decorated := _decorated(type_)) is not None:
        return lambda value: decorated.process_bind_param(value, DIALECT)
    return None


def _result_converter(type_: TypeEngine[Any]) -> Convert | None:
    if (decorated := _decorated(type_)) is not None:
        return lambda value: decorated.process_result_value(value, DIALECT)
    return None


def _columns(statement: Executable) -> Sequence[ColumnElement[Any]]:
    columns: Any = getattr(statement, "selected_columns", None)
    if columns is None:
        columns = getattr(statement, "exported_columns", ())  # INSERT/UPDATE/DELETE … RETURNING
    return list(columns)


def _check_row(row: type[Mapping[str, Any]], compiled: SQLCompiler) -> None:
    if not is_typeddict(row):
        raise RowMismatch(f"{row.__name__} is not a TypedDict")
    declared: frozenset[str] = row.__required_keys__ | row.__optional_keys__  # type: ignore[attr-defined]
    returned = [entry[0] for entry in compiled._result_columns]
    if len(set(returned)) != len(returned) or declared != set(returned):
        missing, extra = sorted(set(returned) - declared), sorted(declared - set(returned))
        raise RowMismatch(
            f"{row.__name__} does not match its statement's columns: "
            f"not declared {missing}, not returned {extra}"
        )


class Query(Generic[R]):
    """A statement compiled for asyncpg, with its parameters by name and its conversions, and
    the row it returns."""

    def __init__(self, statement: Executable, row: type[R], *, checked: bool = True) -> None:
        """`checked=False` only for what declares no columns to check (EXPLAIN) and for the
        variants of an already checked statement (app.requests.work's, with its audit event)."""
        element = cast(ClauseElement, statement)
        compiled = cast(SQLCompiler, element.compile(dialect=DIALECT))
        if checked:
            _check_row(row, compiled)
        self.statement = statement
        self.row_type: type[R] = row
        self.sql = str(compiled)
        # Variants of the statement (with its audit event), compiled once each; their rows are
        # the statement's plus what the variant adds, not checked.
        self.derived: dict[str, Query[Any]] = {}
        # Whether it only reads: no INSERT, UPDATE or DELETE, not even in a CTE.
        self.reads_only = not any(getattr(part, "is_dml", False) for part in iterate(element))
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        # Values fixed in the statement itself (literal()); call-time parameters override them.
        self.defaults = {
            name: value for name, value in compiled.params.items() if value is not None
        }
        self._binds = [
            (position, convert)
            for position, name in enumerate(self.names)
            if (convert := _bind_converter(compiled.binds[name].type)) is not None
        ]
        self._results = [
            (position, convert)
            for position, column in enumerate(_columns(statement))
            if (convert := _result_converter(column.type)) is not None
        ]

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional arguments of one execution; a missing parameter is a KeyError."""
        values = {**self.defaults, **params} if self.defaults else params
        arguments = [values[name] for name in self.names]
        for position, convert in self._binds:
            if arguments[position] is not None:
                arguments[position] = convert(arguments[position])
        return arguments

    def row(self, record: asyncpg.Record) -> R:
        if not self._results:
            return cast(R, dict(record))
        values = list(record.values())
        for position, convert in self._results:
            if values[position] is not None:
                values[position] = convert(values[position])
        return cast(R, dict(zip(record.keys(), values, strict=True)))

    async def fetch(self, connection: asyncpg.Connection, params: Mapping[str, Any]) -> list[R]:
        records = await connection.fetch(self.sql, *self.arguments(params))
        return [self.row(record) for record in records]

    async def fetch_one(
        self, connection: asyncpg.Connection, params: Mapping[str, Any]
    ) -> R | None:
        record = await connection.fetchrow(self.sql, *self.arguments(params))
        return None if record is None else self.row(record)


class Executor(Protocol):
    """What repositories run their statements on: the request's unit of work, or the database
    (one statement, committed by itself)."""

    async def fetch(self, query: Query[R], /, **params: Any) -> list[R]: ...

    async def fetch_one(self, query: Query[R], /, **params: Any) -> R | None: ...

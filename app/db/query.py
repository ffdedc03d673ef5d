"""SQLAlchemy statements compiled once and run on asyncpg directly.

The models and every statement are SQLAlchemy's; executing through SQLAlchemy's async session
cost a request about 300 µs of CPU per statement (the greenlet bridge, the ORM, result
processing), more than the rest of a read by id. A `Query` compiles its statement once, at
import, for the asyncpg dialect (`$1` parameters), and remembers the few conversions asyncpg
does not do itself: the types decorated in app.db.types (PHI encrypted at rest), both ways.
JSON and JSONB are converted by codecs on each connection (app.db.database).
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast

import asyncpg
from sqlalchemy import Executable, TypeDecorator
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement, ColumnElement
from sqlalchemy.sql.visitors import iterate
from sqlalchemy.types import TypeEngine

Row = dict[str, Any]
"""One result row, by column name, with every value converted (PHI decrypted)."""

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


class Query:
    """A statement compiled for asyncpg, with its parameters by name and its conversions."""

    def __init__(self, statement: Executable) -> None:
        element = cast(ClauseElement, statement)
        compiled = cast(SQLCompiler, element.compile(dialect=DIALECT))
        self.statement = statement
        self.sql = str(compiled)
        self.derived: dict[str, Query] = {}  # variants of the statement, compiled once each
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

    def row(self, record: asyncpg.Record) -> Row:
        if not self._results:
            return dict(record)
        values = list(record.values())
        for position, convert in self._results:
            if values[position] is not None:
                values[position] = convert(values[position])
        return dict(zip(record.keys(), values, strict=True))

    async def fetch(self, connection: asyncpg.Connection, params: Mapping[str, Any]) -> list[Row]:
        records = await connection.fetch(self.sql, *self.arguments(params))
        return [self.row(record) for record in records]

    async def fetch_one(
        self, connection: asyncpg.Connection, params: Mapping[str, Any]
    ) -> Row | None:
        record = await connection.fetchrow(self.sql, *self.arguments(params))
        return None if record is None else self.row(record)


class Executor(Protocol):
    """What repositories run their statements on: the request's unit of work, or the database
    (one statement, committed by itself)."""

    async def fetch(self, query: Query, /, **params: Any) -> list[Row]: ...

    async def fetch_one(self, query: Query, /, **params: Any) -> Row | None: ...

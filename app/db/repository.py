"""The SQL of a plain resource, with no statement written by hand: get by id, a page of a
list filtered by equality and its count, create, update, and (soft) delete.

A domain's repository subclasses `Repository[XRow]` and names its table, its row (a TypedDict:
its keys are the columns every statement returns), the list's filters and order, and the column
that marks a row deleted, if rows are kept when deleted:

    class RoomRepository(Repository[RoomRow]):
        table = ROOMS
        row = RoomRow
        filters = ("building_id",)
        order_by = ("name", "id")
        deleted_at = "deleted_at"
        updated_at = "updated_at"

Its statements are built and compiled once: get and delete when the class is made (so a row
that names a missing column fails at import), the others once per shape (which filters, which
columns). A deleted row is found by none of them. The hot paths keep their hand-compiled
statements (app/patients/repository.py), which this does not replace: a read by id there is one
round trip with its caller check and audit event, and a list has its own search and order.
"""

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, cast

from sqlalchemy import ColumnElement, Table, bindparam, delete, func, insert, select, update

from app.db.counting import Count, Counting
from app.db.query import Executor, Query, R, RowMismatch


def columns_of(table: Table, row: type[Any]) -> list[ColumnElement[Any]]:
    """The table's columns a row TypedDict names, in the table's order; a name the table lacks
    fails at import."""
    names: frozenset[str] = row.__required_keys__ | row.__optional_keys__
    missing = sorted(names - set(table.c.keys()))
    if missing:
        raise RowMismatch(f"{row.__name__} names columns {table.name} lacks: {missing}")
    return [column for column in table.c if column.key in names]


class Repository(Generic[R]):
    """Get, list, count, create, update and delete rows of one table (see the module's text)."""

    table: ClassVar[Table]
    row: type[R]
    id_column: ClassVar[str] = "id"
    filters: ClassVar[tuple[str, ...]] = ()
    """The columns a list may be filtered on, each by equality with a value of the same name."""
    order_by: ClassVar[Sequence[str]] = ("id",)
    """The list's order: column names, each descending if written with a leading "-"."""
    deleted_at: ClassVar[str | None] = None
    """The column set when a row is deleted (kept, found by nothing); None: a delete deletes."""
    updated_at: ClassVar[str | None] = None
    """The column an update sets to the transaction's time, if the table has one."""

    _columns: ClassVar[list[ColumnElement[Any]]]
    _get: ClassVar[Query[Any]]
    _delete: ClassVar[Query[Any]]
    _statements: ClassVar[dict[tuple[str, frozenset[str]], Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not hasattr(cls, "table"):  # an intermediate base
            return
        cls._statements = {}
        cls._columns = columns = columns_of(cls.table, cls.row)
        stamps = [name for name in (cls.deleted_at, cls.updated_at) if name is not None]
        named = {*cls.filters, *_names(cls.order_by), *stamps}
        unknown = sorted(named - set(cls.table.c.keys()))
        if unknown:
            raise RowMismatch(f"{cls.__name__} names unknown columns: {unknown}")
        cls._get = Query(select(*columns).where(*cls._found()), cls.row)
        if cls.deleted_at is None:
            removal: Any = delete(cls.table)
        else:
            removal = update(cls.table).values({cls.deleted_at: func.now()})
        cls._delete = Query(removal.where(*cls._found()).returning(*columns), cls.row)

    @classmethod
    def _kept(cls) -> list[ColumnElement[bool]]:
        return [] if cls.deleted_at is None else [cls.table.c[cls.deleted_at].is_(None)]

    @classmethod
    def _found(cls) -> list[ColumnElement[bool]]:
        return [cls.table.c[cls.id_column] == bindparam("id"), *cls._kept()]

    @classmethod
    def _statement(cls, kind: str, names: frozenset[str]) -> Any:
        key = (kind, names)
        if (statement := cls._statements.get(key)) is None:
            statement = cls._statements[key] = cls._build(kind, names)
        return statement

    @classmethod
    def _build(cls, kind: str, names: frozenset[str]) -> Any:
        columns, table = cls._columns, cls.table
        if kind == "create":
            values = {name: bindparam(name, type_=table.c[name].type) for name in names}
            return Query(insert(table).values(values).returning(*columns), cls.row)
        if kind == "update":
            changes: dict[str, Any] = {
                name: bindparam(name, type_=table.c[name].type) for name in names
            }
            if cls.updated_at is not None:
                changes[cls.updated_at] = func.now()
            changed = update(table).where(*cls._found()).values(changes)
            return Query(changed.returning(*columns), cls.row)
        matching = [
            *cls._kept(),
            *(table.c[name] == bindparam(name) for name in sorted(names)),
        ]
        if kind == "count":
            return Counting(select(table.c[cls.id_column]).where(*matching))
        order = [
            table.c[name.removeprefix("-")].desc() if name.startswith("-") else table.c[name]
            for name in cls.order_by
        ]
        page = (
            select(*columns)
            .where(*matching)
            .order_by(*order)
            .offset(bindparam("offset"))
            .limit(bindparam("limit"))
        )
        return Query(page, cls.row)

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def get(self, id: Any) -> R | None:
        return await self.executor.fetch_one(cast(Query[R], self._get), id=id)

    async def page(self, filters: Mapping[str, Any], *, offset: int, limit: int) -> list[R]:
        """The list's rows from `offset`, at most `limit`; a filter given None is not applied."""
        given = self._given(filters)
        page: Query[R] = self._statement("page", frozenset(given))
        return await self.executor.fetch(page, **given, offset=offset, limit=limit)

    async def count(self, filters: Mapping[str, Any], *, exact_up_to: int | None) -> Count:
        given = self._given(filters)
        counting: Counting = self._statement("count", frozenset(given))
        return await counting.count(self.executor, given, exact_up_to=exact_up_to)

    async def create(self, values: Mapping[str, Any]) -> R:
        created: Query[R] = self._statement("create", frozenset(values))
        row = await self.executor.fetch_one(created, **values)
        assert row is not None, "an INSERT … RETURNING returns its row"
        return row

    async def update(self, id: Any, values: Mapping[str, Any]) -> R | None:
        """The row with `values` set; None when there is none (or it is deleted)."""
        if not values:
            return await self.get(id)
        if self.id_column in values:
            raise KeyError(f"{self.id_column} names the row; it is not changed")
        changed: Query[R] = self._statement("update", frozenset(values))
        return await self.executor.fetch_one(changed, **values, id=id)

    async def delete(self, id: Any) -> R | None:
        """The row as it was deleted; None when there was none."""
        return await self.executor.fetch_one(cast(Query[R], self._delete), id=id)

    def _given(self, filters: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(filters) - set(self.filters)
        if unknown:
            raise KeyError(f"not a filter of {type(self).__name__}: {sorted(unknown)}")
        return {name: value for name, value in filters.items() if value is not None}


def _names(order_by: Sequence[str]) -> set[str]:
    return {name.removeprefix("-") for name in order_by}

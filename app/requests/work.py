"""The audited unit of work: one request's (or one admin action's) database work and its audit
event, for the API and the admin alike.

The work runs on one pooled connection, taken at its first statement and given back during a
password hash. Without `begin()` each statement commits by itself; work that must read what it
then writes under a lock calls `begin()` first and commits at the end.

The event of work that succeeds commits with it. The statement that completes the work (the
service marks it with `completed_by`) writes the event itself (app.audit.repository.completing),
so that a read by id or a single write is one round trip, event included. Work that succeeds
otherwise writes its event at the end, in its transaction. A write that is not the completing
statement begins that transaction itself when the work has none yet (`_before`), so no write
can commit without its event: only the completing statement writes outside a transaction, and
it carries the event. Work that fails is rolled back and its event written apart: a refusal or
an error is audited, never lost with the rollback.

A request's caller (the account its token names) must still exist and be active. The work
checks that before any of its statements runs (`check_caller`): within the completing read of
one row itself, when that is the work's first statement (a read by id: one round trip in all),
otherwise with a statement of its own first. No statement runs for a caller who is gone, and
nothing they read leaves the database.

Mail the work asks for (`notify`: a password changed, a reset link) goes out only once the work
has committed, never when it fails: sent by `send` on commit (the admin, the command line), or
after the answer by the API's route (app.requests.routing).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypedDict, TypeVar

import anyio
import asyncpg
from asyncpg.transaction import Transaction
from sqlalchemy import Select

from app.audit.repository import (
    APPEND,
    CALLER_NAME,
    CALLER_ROLE,
    FOUND,
    completing,
    completing_for_caller,
)
from app.audit.service import AuditEntry, record_failure
from app.core.errors import database_unavailable
from app.db.database import Database
from app.db.query import Query, R
from app.mail.templates import Notice

T = TypeVar("T")


class CallerRow(TypedDict):
    """The row of a statement that finds a request's caller."""

    name: str
    role: str


@dataclass(frozen=True)
class CallerCheck:
    """The account a request's token names, to be found in the database with the work."""

    query: Query[CallerRow]  # the caller's row (`name`, `role`); none when gone or inactive
    params: dict[str, Any]
    kind: str  # the audit trail's actor kind: staff or patient
    accept: Callable[[CallerRow], None]  # told the caller's row once found
    refusal: Callable[[], Exception]  # raised when there is none


class UnitOfWork:
    def __init__(
        self,
        database: Database,
        entry: AuditEntry,
        *,
        status_code: int = 200,
        anonymous: bool = False,
        send: Callable[[list[Notice]], Awaitable[None]] | None = None,
    ) -> None:
        self.database = database
        self.entry = entry
        self.status_code = status_code  # the answer's when the work succeeds (200, 201, 204)
        # Work whose actor is not known yet (a request before its token is checked): a failure
        # then is not audited, as a bad token is not.
        self.anonymous = anonymous
        self._connection: asyncpg.Connection | None = None
        self._transaction: Transaction | None = None
        self._caller: CallerCheck | None = None
        self._completing = False
        self._audited = False
        self.notices: list[Notice] = []
        self._send = send

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is None:
            await self.commit()
        else:
            await self.fail(error)

    def check_caller(self, check: CallerCheck) -> None:
        """Find the work's caller before any of its statements: the work is theirs from then."""
        self._caller = check

    async def caller_checked(self) -> None:
        """Find the caller now, if that is still to be done (the refusal when they are gone)."""
        if (check := self._caller) is not None:
            self._caller = None
            row = await check.query.fetch_one(await self._connect(), check.params)
            self._accept(check, row)

    def act_as(self, actor: str, actor_kind: str) -> None:
        """Name the work's actor, once known; from now on its failures are audited too."""
        self.entry.actor, self.entry.actor_kind = actor, actor_kind
        self.anonymous = False

    def notify(self, notice: Notice) -> None:
        """Mail `notice` once the work has committed."""
        self.notices.append(notice)

    async def commit(self) -> None:
        """The work succeeded: its event is written (unless its completing statement did) and
        its transaction, if any, committed. A failure to commit is a failure of the work."""
        try:
            await self.caller_checked()
            if not self._audited:
                connection = await self._connect()
                await connection.execute(APPEND.sql, *APPEND.arguments(self._with_event({})))
                self._audited = True
            if self._transaction is not None:
                transaction, self._transaction = self._transaction, None
                await transaction.commit()
        except BaseException as failure:
            await self.fail(failure)
            raise
        await self._release()
        if self._send is not None and self.notices:
            notices, self.notices = self.notices, []
            await self._send(notices)

    async def fail(self, error: BaseException) -> None:
        """The work failed with `error`: rolled back, and audited apart (under its caller, who
        is found first if the work failed before any statement)."""
        self.notices.clear()
        with anyio.CancelScope(shield=True):  # also when the client went away
            transaction, self._transaction = self._transaction, None
            try:
                if transaction is not None:
                    await transaction.rollback()
                if self._caller is not None and not database_unavailable(error):
                    await self.caller_checked()
            except Exception:  # noqa: S110 - a caller gone: nobody to audit; a broken connection
                pass  # is discarded by the pool
            finally:
                await self._release()
            if not self.anonymous:
                await record_failure(self.database, self.entry, error)

    async def abandon(self) -> None:
        """Roll back what the work wrote so far (it is about to fail), keeping its connection
        for the reads that say why."""
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            await transaction.rollback()

    async def idle(self) -> None:
        """Give the connection back while the work does something long without the database
        (a password hash); the next statement takes one again. Not inside a transaction. The
        caller is found first: nobody gone makes the work hash."""
        await self.caller_checked()
        if self._transaction is None:
            await self._release()

    async def begin(self) -> None:
        """Run the rest of the work in one transaction, committed at the end."""
        await self.caller_checked()
        if self._transaction is None:
            self._transaction = (await self._connect()).transaction()
            await self._transaction.start()

    async def completed_by(self, work: Awaitable[T]) -> T:
        """Await `work` (a repository call), whose next statement completes the work: it writes
        the audit event too, if it returns a row (`fetch_one`) or in any case (`fetch`)."""
        self._completing = True
        try:
            return await work
        finally:
            self._completing = False

    async def fetch(self, query: Query[R], /, **params: Any) -> list[R]:
        await self.caller_checked()
        connection = await self._connect()
        if self._take_completion():
            rows = await _audited(query, if_rows=False).fetch(connection, self._with_event(params))
            self._audited = True
            return rows
        await self._before(query)
        return await query.fetch(connection, params)

    async def fetch_one(self, query: Query[R], /, **params: Any) -> R | None:
        completing = self._take_completion()
        if completing and self._caller is not None and query.reads_only:
            return await self._read_for_caller(query, params)
        await self.caller_checked()
        connection = await self._connect()
        if completing:
            audited = _audited(query, if_rows=True)
            row = await audited.fetch_one(connection, self._with_event(params))
            self._audited = row is not None
            return row
        await self._before(query)
        return await query.fetch_one(connection, params)

    async def _read_for_caller(self, query: Query[R], params: dict[str, Any]) -> R | None:
        """The completing read of one row, the caller found and the event written by the same
        statement (app.audit.repository.completing_for_caller)."""
        check, self._caller = self._caller, None
        assert check is not None
        fused = _derived(
            query,
            f"for_caller:{id(check.query)}",
            lambda: completing_for_caller(query.statement, _select(check.query)),
        )
        self.entry.actor_kind = check.kind  # the actor's name is the caller row's
        arguments = {**params, **check.params, **self.entry.parameters(self.status_code)}
        row = await fused.fetch_one(await self._connect(), arguments)
        self._accept(
            check, None if row is None else {"name": row[CALLER_NAME], "role": row[CALLER_ROLE]}
        )
        assert row is not None
        found = row.pop(FOUND)
        del row[CALLER_NAME], row[CALLER_ROLE]
        self._audited = bool(found)
        return row if found else None

    def _accept(self, check: CallerCheck, caller: CallerRow | None) -> None:
        """The caller's row (`name`, `role`) as found: the work is theirs, or refused."""
        if caller is None:
            raise check.refusal()
        self.act_as(caller["name"], check.kind)
        check.accept(caller)

    async def _before(self, query: Query[Any]) -> None:
        """A write that does not complete the work, before its event is written: it begins the
        work's transaction, so that it commits with the event or not at all."""
        if not query.reads_only and self._transaction is None and not self._audited:
            await self.begin()

    def _take_completion(self) -> bool:
        completing, self._completing = self._completing and not self._audited, False
        return completing

    def _with_event(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**params, **self.entry.parameters(self.status_code)}

    async def _connect(self) -> asyncpg.Connection:
        if self._connection is None:
            self._connection = await self.database.pool.acquire(
                timeout=self.database.acquire_timeout
            )
        return self._connection

    async def _release(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            self.database.release_soon(connection)


def _select(query: Query[Any]) -> Select[Any]:
    statement = query.statement
    assert isinstance(statement, Select), "a caller is found by a SELECT"
    return statement


def _derived(query: Query[Any], key: str, build: Callable[[], Any]) -> Query[Any]:
    """A variant of `query`, compiled once: its row is `query`'s, and what the variant adds."""
    derived = query.derived.get(key)
    if derived is None:
        derived = query.derived[key] = Query(build(), query.row_type, checked=False)
    return derived


def _audited(query: Query[R], *, if_rows: bool) -> Query[R]:
    """`query` writing the audit event too."""
    return _derived(
        query,
        "audited_if_rows" if if_rows else "audited",
        lambda: completing(query.statement, if_rows=if_rows),
    )

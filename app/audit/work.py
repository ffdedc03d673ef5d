"""The audited unit of work: one request's (or one admin action's) database work and its audit
event, for the API and the admin alike.

The work runs on one pooled connection, taken at its first statement, so that a request holds
no connection while it only hashes a password. Without `begin()` each statement commits by
itself; work that writes more than once, or must read what it then writes under a lock, calls
`begin()` first and commits at the end.

The event of work that succeeds commits with it. The statement that completes the work (the
service marks it with `completed_by`) writes the event itself (app.audit.repository.completing),
so that a read by id or a single write is one round trip, event included. Work that succeeds
otherwise writes its event at the end, in its transaction when it has one; a single write
without a transaction must therefore be the completing statement. Work that fails is rolled back
and its event written apart: a refusal or an error is audited, never lost with the rollback.
"""

from collections.abc import Awaitable
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio
import asyncpg
from asyncpg.transaction import Transaction

from app.audit.repository import APPEND, completing
from app.audit.service import AuditEntry, record_failure
from app.db.database import Database
from app.db.query import Query, Row

T = TypeVar("T")


class UnitOfWork:
    def __init__(
        self,
        database: Database,
        entry: AuditEntry,
        *,
        status_code: int = 200,
        anonymous: bool = False,
    ) -> None:
        self.database = database
        self.entry = entry
        self.status_code = status_code  # the answer's when the work succeeds (200, 201, 204)
        # Work whose actor is not known yet (a request before its token is checked): a failure
        # then is not audited, as a bad token is not.
        self.anonymous = anonymous
        self._connection: asyncpg.Connection | None = None
        self._transaction: Transaction | None = None
        self._completing = False
        self._audited = False

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

    async def commit(self) -> None:
        """The work succeeded: its event is written (unless its completing statement did) and
        its transaction, if any, committed. A failure to commit is a failure of the work."""
        assert not self.anonymous, "work is audited under its actor"
        try:
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

    async def fail(self, error: BaseException) -> None:
        """The work failed with `error`: rolled back, and audited apart."""
        with anyio.CancelScope(shield=True):  # also when the client went away
            transaction, self._transaction = self._transaction, None
            try:
                if transaction is not None:
                    await transaction.rollback()
            except Exception:  # noqa: S110 - released below; the pool discards a broken one
                pass
            finally:
                await self._release()
            if not self.anonymous:
                await record_failure(self.database, self.entry, error)

    def act_as(self, actor: str, actor_kind: str) -> None:
        """Name the work's actor, once known; from now on its failures are audited too."""
        self.entry.actor, self.entry.actor_kind = actor, actor_kind
        self.anonymous = False

    async def idle(self) -> None:
        """Give the connection back while the work does something long without the database
        (a password hash); the next statement takes one again. Not inside a transaction."""
        if self._transaction is None:
            await self._release()

    async def begin(self) -> None:
        """Run the rest of the work in one transaction, committed at the end."""
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

    async def fetch(self, query: Query, /, **params: Any) -> list[Row]:
        connection = await self._connect()
        if self._take_completion():
            rows = await _audited(query, if_rows=False).fetch(connection, self._with_event(params))
            self._audited = True
            return rows
        return await query.fetch(connection, params)

    async def fetch_one(self, query: Query, /, **params: Any) -> Row | None:
        connection = await self._connect()
        if self._take_completion():
            audited = _audited(query, if_rows=True)
            row = await audited.fetch_one(connection, self._with_event(params))
            self._audited = row is not None
            return row
        return await query.fetch_one(connection, params)

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


def _audited(query: Query, *, if_rows: bool) -> Query:
    """`query` writing the audit event too, compiled once per query."""
    key = "audited_if_rows" if if_rows else "audited"
    derived = query.derived.get(key)
    if derived is None:
        derived = query.derived[key] = Query(completing(query.statement, if_rows=if_rows))
    return derived

"""Stored responses to POSTs sent with an Idempotency-Key. Never commits: the unit of work does."""

from datetime import timedelta
from typing import Any

from sqlalchemy import Interval, String, bindparam, delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert

from app.db.query import Executor, Query
from app.idempotency.schemas import KeyRow, LockRow, StoredResponseRow
from app.models.idempotency import IdempotentResponse

PRUNE_BATCH = 100

_TTL = bindparam("ttl", type_=Interval)
_GET = Query(
    select(
        IdempotentResponse.fingerprint,
        IdempotentResponse.status_code,
        IdempotentResponse.headers,
        IdempotentResponse.body,
    ).where(
        IdempotentResponse.caller == bindparam("caller"),
        IdempotentResponse.key == bindparam("key"),
        IdempotentResponse.created_at > func.now() - _TTL,
    ),
    StoredResponseRow,
)
_LOCK = Query(
    select(
        func.pg_try_advisory_xact_lock(
            func.hashtextextended(
                bindparam("caller", type_=String) + " " + bindparam("key", type_=String), 0
            )
        ).label("locked")
    ),
    LockRow,
)
_STORED = {
    name: bindparam(name, type_=IdempotentResponse.__table__.c[name].type)
    for name in ("fingerprint", "status_code", "headers", "body")
}
_SAVE = Query(
    insert(IdempotentResponse)
    .values(caller=bindparam("caller"), key=bindparam("key"), **_STORED, created_at=func.now())
    .on_conflict_do_update(
        index_elements=[IdempotentResponse.caller, IdempotentResponse.key],
        set_={**_STORED, "created_at": func.now()},
    )
    .returning(IdempotentResponse.key),
    KeyRow,
)
_expired = (
    select(IdempotentResponse.caller, IdempotentResponse.key)
    .where(IdempotentResponse.created_at <= func.now() - _TTL)
    .limit(PRUNE_BATCH)
    .with_for_update(skip_locked=True)
)
_PRUNE = Query(
    delete(IdempotentResponse)
    .where(tuple_(IdempotentResponse.caller, IdempotentResponse.key).in_(_expired))
    .returning(IdempotentResponse.key),
    KeyRow,
)


class IdempotencyRepository:
    def __init__(self, executor: Executor, ttl: timedelta) -> None:
        self.executor = executor
        self.ttl = ttl

    async def try_lock(self, caller: str, key: str) -> bool:
        """Take the key for this transaction; False while another transaction holds it."""
        row = await self.executor.fetch_one(_LOCK, caller=caller, key=key)
        return bool(row and row["locked"])

    async def get(self, caller: str, key: str) -> StoredResponseRow | None:
        """The stored response, unless it has expired."""
        return await self.executor.fetch_one(_GET, caller=caller, key=key, ttl=self.ttl)

    async def save(
        self,
        caller: str,
        key: str,
        *,
        fingerprint: str,
        status_code: int,
        headers: dict[str, Any],
        body: str,
    ) -> None:
        """Store the response (replacing an expired one), and prune a batch of expired ones."""
        await self.executor.fetch_one(
            _SAVE,
            caller=caller,
            key=key,
            fingerprint=fingerprint,
            status_code=status_code,
            headers=headers,
            body=body,
        )
        await self.executor.fetch(_PRUNE, ttl=self.ttl)

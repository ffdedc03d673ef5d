"""Stored responses to POSTs sent with an Idempotency-Key. Never commits: the request does."""

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.idempotency import IdempotentResponse

PRUNE_BATCH = 100


class IdempotencyRepository:
    def __init__(self, session: AsyncSession, ttl: timedelta) -> None:
        self.session = session
        self.ttl = ttl

    async def try_lock(self, caller: str, key: str) -> bool:
        """Take the key for this transaction; False while another transaction holds it."""
        lock_id = func.hashtextextended(caller + " " + key, 0)
        return bool(await self.session.scalar(select(func.pg_try_advisory_xact_lock(lock_id))))

    async def get(self, caller: str, key: str) -> IdempotentResponse | None:
        """The stored response, unless it has expired."""
        statement = select(IdempotentResponse).where(
            IdempotentResponse.caller == caller,
            IdempotentResponse.key == key,
            IdempotentResponse.created_at > func.now() - self.ttl,
        )
        return await self.session.scalar(statement)

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
        values = {
            "fingerprint": fingerprint,
            "status_code": status_code,
            "headers": headers,
            "body": body,
            "created_at": func.now(),
        }
        statement = insert(IdempotentResponse).values(caller=caller, key=key, **values)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[IdempotentResponse.caller, IdempotentResponse.key], set_=values
            )
        )
        expired = (
            select(IdempotentResponse.caller, IdempotentResponse.key)
            .where(IdempotentResponse.created_at <= func.now() - self.ttl)
            .limit(PRUNE_BATCH)
            .with_for_update(skip_locked=True)
        )
        await self.session.execute(
            delete(IdempotentResponse).where(
                tuple_(IdempotentResponse.caller, IdempotentResponse.key).in_(expired)
            )
        )

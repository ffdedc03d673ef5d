"""The audit trail of every patient read, change and login attempt: who, what, when, from where.

A successful request's event is written in the request's own transaction, so a write and its
audit row commit together. A refused or failed request rolls its transaction back, so its event
is written in a transaction of its own; unless the database itself failed, when no write can
succeed and trying would only make the request wait longer for its 503.
"""

import logging
from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.errors import AppError, database_unavailable
from app.repositories.audit import AuditRepository

logger = logging.getLogger(__name__)


@dataclass
class AuditEntry:
    action: str
    actor: str
    actor_kind: str
    patient_id: str | None
    client_address: str | None

    def event(self, status_code: int) -> dict[str, Any]:
        """The audit_events row of this request, answered with `status_code`."""
        return {
            "actor": self.actor,
            "actor_kind": self.actor_kind,
            "action": self.action,
            "patient_id": self.patient_id,
            "client_address": self.client_address,
            "outcome": outcome_of(status_code),
            "status_code": status_code,
        }


def outcome_of(status_code: int) -> str:
    if status_code < 400:
        return "success"
    if status_code in (401, 403, 429):
        return "denied"
    if status_code == 404:
        return "not_found"
    if status_code < 500:
        return "invalid"
    return "error"


def status_of(error: BaseException) -> int:
    if isinstance(error, AppError):
        return error.status_code
    if isinstance(error, RequestValidationError):
        return 400
    return 503 if database_unavailable(error) else 500


async def record_with(session: AsyncSession, entry: AuditEntry, status_code: int) -> None:
    await AuditRepository(session).append(entry.event(status_code))


async def record_apart(
    sessionmaker: async_sessionmaker[AsyncSession], entry: AuditEntry, status_code: int
) -> None:
    """For requests whose own transaction rolled back; never hides the request's own error."""
    try:
        async with sessionmaker() as session, session.begin():
            await record_with(session, entry, status_code)
    except Exception as error:
        logger.warning("audit event for %s not recorded: %s", entry.action, type(error).__name__)


async def record_failure(
    sessionmaker: async_sessionmaker[AsyncSession], entry: AuditEntry, error: BaseException
) -> None:
    """The event of a request that raised `error`, unless the database is what failed."""
    if database_unavailable(error):
        logger.warning("audit event for %s not recorded: database unavailable", entry.action)
        return
    await record_apart(sessionmaker, entry, status_of(error))

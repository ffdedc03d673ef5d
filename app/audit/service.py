"""The audit trail of every patient read, change and login attempt: who, what, when, from where.

An event is written with the work it records (app.requests.work); these are its values, and the
writing of an event apart from any request's work, for what did not happen.
"""

import logging
from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError

from app.audit.actions import Action
from app.audit.repository import APPEND, AuditRepository, event_parameters
from app.audit.schemas import AuditEventRow, AuditQuery
from app.core.errors import (
    AppError,
    ConcurrentChange,
    concurrency_failure,
    database_unavailable,
    names_nothing,
)
from app.db.counting import Count
from app.db.database import Database

logger = logging.getLogger(__name__)


@dataclass
class AuditEntry:
    """Who does what to which patient, from where: an event once its outcome is known."""

    action: Action  # an endpoint's is its name, which app.requests.rules holds to an Action
    actor: str
    actor_kind: str
    patient_id: str | None
    client_address: str | None

    def event(self, status_code: int) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "actor_kind": self.actor_kind,
            "action": self.action,
            "patient_id": self.patient_id,
            "client_address": self.client_address,
            "outcome": outcome_of(status_code),
            "status_code": status_code,
        }

    def parameters(self, status_code: int) -> dict[str, Any]:
        return event_parameters(self.event(status_code))


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
        return 404 if names_nothing(error.errors()) else 400
    if concurrency_failure(error):
        return ConcurrentChange.status_code
    return 503 if database_unavailable(error) else 500


async def record_apart(database: Database, entry: AuditEntry, status_code: int) -> None:
    """The event of something whose own work was rolled back, or that had none (a refused
    login); a failure to record it is logged, never raised over the request's own error."""
    try:
        await database.execute(APPEND, entry.parameters(status_code))
    except Exception as error:
        logger.warning("audit event for %s not recorded: %s", entry.action, type(error).__name__)


async def record_failure(database: Database, entry: AuditEntry, error: BaseException) -> None:
    """The event of a request that raised `error`, unless the database is what failed: then no
    write can succeed, and trying would only make the request wait longer for its 503."""
    if database_unavailable(error):
        logger.warning("audit event for %s not recorded: database unavailable", entry.action)
        return
    await record_apart(database, entry, status_of(error))


class AuditService:
    """The audit trail, read by admins."""

    def __init__(self, repository: AuditRepository) -> None:
        self.repository = repository

    async def count(self, query: AuditQuery, *, exact_up_to: int | None) -> Count:
        return await self.repository.count(query, exact_up_to=exact_up_to)

    async def list(self, query: AuditQuery, *, offset: int, limit: int) -> list[AuditEventRow]:
        return await self.repository.list(query, offset=offset, limit=limit)

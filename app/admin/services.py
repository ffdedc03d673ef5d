"""What the admin shares with the API: the app's database, rate limiter, settings and pictures,
and the same audited unit of work around every read and write of a patient.

The database and the engine are made in the app's lifespan, after the admin is mounted, so the
admin reaches them through the app rather than holding them.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from sqladmin.flash import Flash
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException
from starlette.requests import Request

from app.audit.actions import Action
from app.audit.service import AuditEntry, record_apart
from app.auth.permissions import Principal
from app.auth.sessions import Sessions
from app.core.config import Settings
from app.core.dependencies import client_address
from app.core.errors import AppError, ValidationFailed
from app.core.ids import BIGINT_MAX, parse_id
from app.core.ratelimit import RateLimiter
from app.db.database import Database
from app.db.query import Executor
from app.mail.mailer import Mailer, deliver_notices
from app.mail.templates import Notice
from app.models.patient import is_patient_id
from app.pictures.stores import PictureStore
from app.processor.client import Processor
from app.requests.work import UnitOfWork

STAFF_STATE = "admin_staff"
AUDITED_STATE = "admin_audited"


class AppSessions(async_sessionmaker[AsyncSession]):
    """A sessionmaker for sqladmin's own reads that hands out sessions of the app's engine."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(class_=AsyncSession)
        self._app = app

    def __call__(self, **local_kw: Any) -> AsyncSession:
        sessions: async_sessionmaker[AsyncSession] = self._app.state.sessionmaker
        return sessions(**local_kw)


@dataclass(frozen=True)
class AdminServices:
    app: FastAPI
    settings: Settings

    @property
    def database(self) -> Database:
        database: Database = self.app.state.database
        return database

    @property
    def limiter(self) -> RateLimiter:
        limiter: RateLimiter = self.app.state.rate_limiter
        return limiter

    def sessions(self, executor: Executor) -> Sessions:
        return Sessions(executor, self.app.state.tokens, self.settings)

    @property
    def pictures(self) -> PictureStore:
        pictures: PictureStore = self.app.state.pictures
        return pictures

    @property
    def documents(self) -> PictureStore:
        documents: PictureStore = self.app.state.documents
        return documents

    @property
    def processor(self) -> Processor:
        processor: Processor = self.app.state.processor
        return processor

    @property
    def picture_decodes(self) -> asyncio.Semaphore:
        decodes: asyncio.Semaphore = self.app.state.picture_decodes
        return decodes

    def work(self, request: Request, action: Action, patient_id: str | None) -> UnitOfWork:
        """The logged-in staff member's unit of work for one admin action, audited as `action`
        (the API's rule: the work and its event commit together; a failure is audited apart).
        The mail it asks for is sent once it has committed."""
        entry = _entry(request, action, patient_id)
        assert entry is not None, "the authentication backend admits only staff"
        return UnitOfWork(self.database, entry, send=self._send)

    async def _send(self, notices: list[Notice]) -> None:
        mailer: Mailer = self.app.state.mailer
        await deliver_notices(mailer, self.settings.mail_from, notices)

    async def audit_apart(
        self, request: Request, action: Action, patient_id: str | None, status_code: int
    ) -> None:
        """An admin page's event, when the page read through sqladmin rather than a service
        (nothing when nobody is logged in: sqladmin sent them to the login page)."""
        if (entry := _entry(request, action, patient_id)) is not None:
            await record_apart(self.database, entry, status_code)


def flash(request: Request, message: str, *, error: bool = False) -> None:
    """sqladmin's flash message, kept: Starlette saves a session only when one of its keys is
    set, and sqladmin appends a second message to the list the first one's key holds."""
    (Flash.error if error else Flash.success)(request, message)
    if "_messages" in request.session:
        request.session["_messages"] = list(request.session["_messages"])


def already_audited(request: Request, action: Action) -> bool:
    """Whether a unit of work of this request has audited `action` (a page that also reads
    through another service, e.g. a patient's measures, still has its own event)."""
    return action in getattr(request.state, AUDITED_STATE, ())


def current_staff(request: Request) -> Principal | None:
    """The logged-in staff member, set by the authentication backend on every admin request."""
    staff = getattr(request.state, STAFF_STATE, None)
    return staff if isinstance(staff, Principal) else None


def signed_in(request: Request) -> Principal:
    """The logged-in staff member of a page the authentication backend has let through."""
    staff = current_staff(request)
    assert staff is not None, "the authentication backend admits only staff"
    return staff


def path_id(request: Request, name: str, maximum: int = BIGINT_MAX) -> int:
    """The row id a page's path names; 404 when it cannot name one."""
    found = parse_id(str(request.path_params.get(name, "")), maximum)
    if found is None:
        raise HTTPException(status_code=404)
    return found


def error_message(error: AppError) -> str:
    """A refusal as one line for a flash message: a 400's messages, or its detail."""
    if isinstance(error, ValidationFailed):
        return " ".join(message for messages in error.errors.values() for message in messages)
    return str(error.detail)


def _entry(request: Request, action: Action, patient_id: str | None) -> AuditEntry | None:
    staff = current_staff(request)
    if staff is None:
        return None
    setattr(request.state, AUDITED_STATE, {*getattr(request.state, AUDITED_STATE, ()), action})
    return AuditEntry(
        action=action,
        actor=staff.name,
        actor_kind=staff.kind,
        patient_id=patient_id if patient_id and is_patient_id(patient_id) else None,
        client_address=client_address(request),
    )

"""What the admin shares with the API: the app's sessions, rate limiter, settings and pictures.

The engine and sessionmaker are made in the app's lifespan, after the admin is mounted, so the
admin reaches them through the app rather than holding them.
"""

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from app.core.config import Settings
from app.core.permissions import Principal
from app.core.ratelimit import RateLimiter
from app.schemas.fields import PATIENT_ID_RE
from app.services.audit import AuditEntry, record_apart, record_with
from app.services.pictures import PictureStore


class AppSessions(async_sessionmaker[AsyncSession]):
    """A sessionmaker for sqladmin that hands out sessions of the app's own sessionmaker."""

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
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        sessions: async_sessionmaker[AsyncSession] = self.app.state.sessionmaker
        return sessions

    @property
    def limiter(self) -> RateLimiter:
        limiter: RateLimiter = self.app.state.rate_limiter
        return limiter

    @property
    def pictures(self) -> PictureStore:
        pictures: PictureStore = self.app.state.pictures
        return pictures


STAFF_STATE = "admin_staff"
AUDITED_STATE = "admin_audited"


def already_audited(request: Request) -> bool:
    return bool(getattr(request.state, AUDITED_STATE, False))


def current_staff(request: Request) -> Principal | None:
    """The logged-in staff member, set by the authentication backend on every admin request."""
    staff = getattr(request.state, STAFF_STATE, None)
    return staff if isinstance(staff, Principal) else None


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def audit_entry(request: Request, action: str, patient_id: str | None) -> AuditEntry | None:
    """An audit entry for the logged-in staff member, or None when nobody is logged in."""
    staff = current_staff(request)
    if staff is None:
        return None
    setattr(request.state, AUDITED_STATE, True)
    return AuditEntry(
        action=action,
        actor=staff.name,
        actor_kind=staff.kind,
        patient_id=patient_id if patient_id and PATIENT_ID_RE.fullmatch(patient_id) else None,
        client_address=client_address(request),
    )


async def audit_apart(
    services: AdminServices,
    request: Request,
    action: str,
    patient_id: str | None,
    status_code: int,
) -> None:
    if (entry := audit_entry(request, action, patient_id)) is not None:
        await record_apart(services.sessions, entry, status_code)


async def audit_with(
    session: AsyncSession, request: Request, action: str, patient_id: str | None, status_code: int
) -> None:
    if (entry := audit_entry(request, action, patient_id)) is not None:
        await record_with(session, entry, status_code)

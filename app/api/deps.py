import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.pagination import PageParam, PageRequest, PageSizeParam
from app.api.routing import JSON_ERROR_KEY
from app.core.config import Settings
from app.core.errors import (
    NotAuthenticated,
    NotFound,
    ParseError,
    PermissionDenied,
    UnsupportedMediaType,
)
from app.core.permissions import Access, Principal, forbidden_fields, may_access_patient, may_use
from app.core.ratelimit import RateLimiter
from app.core.security import decode_access_token
from app.db.session import get_session
from app.repositories.patient import PatientRepository
from app.schemas.audit import AuditQuery
from app.schemas.fields import PATIENT_ID_RE
from app.schemas.patient import PatientListQuery
from app.services.audit import AuditEntry, record_failure, record_with
from app.services.auth import AuthService
from app.services.pictures import PictureStore

SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


async def _rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


RateLimiterDep = Annotated[RateLimiter, Depends(_rate_limiter)]
bearer_token = OAuth2PasswordBearer(tokenUrl="/api/auth/token/", auto_error=False)


async def _principal(
    request: Request,
    token: Annotated[str | None, Depends(bearer_token)],
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> Principal:
    """The caller named by the bearer token: still existing, still active, within their rate.

    Looked up outside the request's transaction, which so begins only when the endpoint first
    needs the database: a create hashes its password before it holds a pooled connection."""
    if not token:
        raise NotAuthenticated
    claims = decode_access_token(settings, token)
    if claims is None:
        raise NotAuthenticated("Given token not valid or expired.")
    await limiter.hit_api(f"{claims.kind}:{claims.subject}")
    lookups: async_sessionmaker[AsyncSession] = request.app.state.lookups
    async with lookups() as session:
        principal = await AuthService(session, settings).principal_for(claims)
    if principal is None:
        raise NotAuthenticated("Given token not valid or expired.")
    request.state.principal = principal  # the actor of the access log (app.core.observability)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_principal)]


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _audit(
    request: Request, session: SessionDep, principal: CurrentPrincipal
) -> AsyncIterator[AuditEntry]:
    """Records the request in the audit trail, whatever its outcome."""
    route = request.scope.get("route")
    patient_id = request.path_params.get("patient_id")
    entry = AuditEntry(
        action=getattr(route, "name", "unknown"),
        actor=principal.name,
        actor_kind=principal.kind,
        patient_id=patient_id if patient_id and PATIENT_ID_RE.fullmatch(patient_id) else None,
        client_address=client_address(request),
    )
    try:
        yield entry
    except Exception as error:
        await record_failure(request.app.state.sessionmaker, entry, error)
        raise
    await record_with(session, entry, getattr(route, "status_code", None) or 200)


AuditDep = Annotated[AuditEntry, Depends(_audit, scope="function")]


async def _patient_repository(session: SessionDep) -> PatientRepository:
    return PatientRepository(session)


async def _page_request(
    settings: SettingsDep, page: PageParam = None, page_size: PageSizeParam = None
) -> PageRequest:
    return PageRequest.parse(
        page,
        page_size,
        default_size=settings.page_size_default,
        max_size=settings.page_size_max,
        exact_count_limit=settings.list_exact_count_limit or None,
    )


async def _json_body(request: Request) -> None:
    """A body that is not JSON is a 415, and malformed JSON a 400, as DRF's parsers answer."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        if (error := request.scope.get(JSON_ERROR_KEY)) is not None:
            raise ParseError(f"JSON parse error - {error}")
        return
    if media_type or await request.body():
        shown = media_type or "(none)"
        raise UnsupportedMediaType(f'Unsupported media type "{shown}" in request.')


async def _patient_id(
    patient_id: Annotated[
        str, Path(description="Patient id, e.g. p_a1b2c3.", examples=["p_a1b2c3"])
    ],
) -> str:
    """An id that cannot exist is simply not found; it never reaches the database."""
    if not PATIENT_ID_RE.fullmatch(patient_id):
        raise NotFound
    return patient_id


def allow(access: Access) -> Any:
    """The role matrix for one endpoint: 403 for a role that may not use it at all, and for a
    patient asking for another patient's record (404 when that record does not exist)."""

    async def check(
        request: Request, principal: CurrentPrincipal, _: AuditDep, repo: PatientRepoDep
    ) -> None:
        if not may_use(principal, access):
            raise PermissionDenied
        patient_id = request.path_params.get("patient_id")
        if patient_id is not None and not may_access_patient(principal, patient_id):
            if not PATIENT_ID_RE.fullmatch(patient_id) or not await repo.exists(patient_id):
                raise NotFound
            raise PermissionDenied

    return Depends(check)


async def _only_fields_the_caller_may_change(request: Request, principal: CurrentPrincipal) -> None:
    """A patient editing their own record may send only the fields API.md lets them change."""
    if principal.is_staff:
        return
    try:
        sent = json.loads(await request.body() or b"{}")
    except (ValueError, RecursionError):
        return  # the body's own validation answers with the parse error
    if isinstance(sent, dict) and forbidden_fields(principal, set(sent)):
        raise PermissionDenied


async def _picture_store(request: Request) -> PictureStore:
    """The app's one picture store (a shared folder or S3), made in create_app."""
    store: PictureStore = request.app.state.pictures
    return store


async def _multipart_upload(request: Request) -> None:
    """415 for anything but a form upload (BodyLimitMiddleware has capped the body's size)."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        raise UnsupportedMediaType(f'Unsupported media type "{media_type or "(none)"}" in request.')


PatientIdDep = Annotated[str, Depends(_patient_id)]
PictureStoreDep = Annotated[PictureStore, Depends(_picture_store)]
MultipartUpload = Depends(_multipart_upload)
PatientSelfFields = Depends(_only_fields_the_caller_may_change)
AuditQueryDep = Annotated[AuditQuery, Query()]
PatientRepoDep = Annotated[PatientRepository, Depends(_patient_repository)]
PageRequestDep = Annotated[PageRequest, Depends(_page_request)]
PatientListQueryDep = Annotated[PatientListQuery, Query()]
JsonBody = Depends(_json_body)

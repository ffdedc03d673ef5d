from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from app.api.deps import RateLimiterDep, SessionDep, SettingsDep, client_address
from app.api.docs import errors
from app.core.errors import NotAuthenticated
from app.schemas import examples
from app.schemas.auth import Token
from app.services.audit import AuditEntry, record_apart, record_with
from app.services.auth import AuthService

router = APIRouter(prefix="/api/auth", tags=["auth"])

BAD_CREDENTIALS = "No active account found with the given credentials."


@router.post(
    "/token/",
    response_model=Token,
    summary="Log in: get a bearer token",
    response_description="The access token, for `Authorization: Bearer …`.",
    responses=errors(400, 401, 413, 429, 503),
    openapi_extra={
        "requestBody": {
            "content": {"application/x-www-form-urlencoded": {"example": examples.LOGIN_FORM}}
        }
    },
)
async def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> Token:
    """Log in with a staff username, or a patient id or phone number, and a password."""
    address = client_address(request) or "unknown"
    await limiter.check_login(form.username, address)
    auth = AuthService(session, settings)
    account = await auth.find_account(form.username)
    entry = AuditEntry(
        action="login",
        actor=account.principal.name if account else "unknown",
        actor_kind=account.principal.kind if account else "anonymous",
        patient_id=account.principal.id if account and not account.principal.is_staff else None,
        client_address=address,
    )
    token = await auth.login(account, form.password)
    if token is None:
        await limiter.failed_login(form.username, address)
        await record_apart(request.app.state.sessionmaker, entry, 401)
        raise NotAuthenticated(BAD_CREDENTIALS)
    await record_with(session, entry, 200)
    return Token(access_token=token, expires_in=settings.access_token_ttl_seconds)

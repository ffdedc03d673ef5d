from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from app.audit.routing import AuditedRoute
from app.auth.access import SignedInCaller
from app.auth.dependencies import SessionsDep
from app.auth.schemas import LOGIN_FORM, RefreshRequest, Token
from app.auth.service import AuthService
from app.core.dependencies import DatabaseDep, JsonBody, RateLimiterDep, client_address
from app.core.openapi import BODY_ERRORS, errors
from app.core.routing import DeferredJSONRoute

router = APIRouter(prefix="/api/auth", tags=["auth"], route_class=DeferredJSONRoute)


@router.post(
    "/token/",
    response_model=Token,
    summary="Log in: get a bearer token",
    response_description="The access token, for `Authorization: Bearer …`.",
    responses=errors(400, 401, 413, 429, 503),
    openapi_extra={
        "requestBody": {"content": {"application/x-www-form-urlencoded": {"example": LOGIN_FORM}}}
    },
)
async def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    database: DatabaseDep,
    limiter: RateLimiterDep,
    sessions: SessionsDep,
) -> Token:
    """Log in with a staff username or e-mail, or a patient id, phone number or e-mail, and a
    password: an access token and a refresh token, in a new session."""
    issued = await AuthService(database, limiter).login(
        form.username,
        form.password,
        client_address(request),
        then=lambda work, principal: sessions(work).open_api(principal),
    )
    return Token.model_validate(issued, from_attributes=True)


@router.post(
    "/refresh/",
    response_model=Token,
    dependencies=[JsonBody],
    summary="Refresh: new tokens for a refresh token",
    response_description="A new access token and the next refresh token of the session.",
    responses=errors(*BODY_ERRORS, 401, 429, 503),
)
async def refresh(
    request: Request,
    payload: RefreshRequest,
    database: DatabaseDep,
    limiter: RateLimiterDep,
    sessions: SessionsDep,
) -> Token:
    """Use a refresh token, once: it gives a new access token and the next refresh token. A
    refresh token used a second time ends its session (it was copied): log in again."""
    refreshed = await AuthService(database, limiter).refresh(
        payload.refresh_token, client_address(request), sessions
    )
    return Token.model_validate(refreshed.issued, from_attributes=True)


signed_in = APIRouter(prefix="/api/auth", tags=["auth"], route_class=AuditedRoute)


@signed_in.post(
    "/logout/",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out: end this session",
    response_description="The session is over; its access and refresh tokens no longer work.",
    responses=errors(401, 429, 503),
)
async def logout(caller: SignedInCaller, sessions: SessionsDep) -> None:
    """End the session the bearer token belongs to, for every instance of the service at once."""
    await caller.work.completed_by(sessions(caller.work).end(caller.session))

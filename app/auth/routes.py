from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from app.auth.dependencies import TokensDep
from app.auth.schemas import LOGIN_FORM, Token
from app.auth.service import AuthService
from app.core.dependencies import DatabaseDep, RateLimiterDep, client_address
from app.core.openapi import errors

router = APIRouter(prefix="/api/auth", tags=["auth"])


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
    tokens: TokensDep,
) -> Token:
    """Log in with a staff username, or a patient id or phone number, and a password."""
    principal = await AuthService(database, limiter).login(
        form.username, form.password, client_address(request)
    )
    token = tokens.create(kind=principal.kind, subject=principal.id)
    return Token(access_token=token, expires_in=tokens.lifetime)

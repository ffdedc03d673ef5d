"""The caller of a request: the principal its bearer token names."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from app.auth.permissions import Principal
from app.auth.service import AuthService
from app.auth.tokens import Tokens
from app.core.errors import NotAuthenticated

bearer_token = OAuth2PasswordBearer(tokenUrl="/api/auth/token/", auto_error=False)
# What the access log names as the request's actor (app.core.observability).
PRINCIPAL_STATE_KEY = "principal"


async def _tokens(request: Request) -> Tokens:
    tokens: Tokens = request.app.state.tokens
    return tokens


async def _principal(
    request: Request, token: Annotated[str | None, Depends(bearer_token)]
) -> Principal:
    """The caller named by the bearer token: still existing, still active, within their rate."""
    if not token:
        raise NotAuthenticated
    state = request.app.state
    claims = state.tokens.verify(token)
    if claims is None:
        raise NotAuthenticated("Given token not valid or expired.")
    await state.rate_limiter.hit_api(f"{claims.kind}:{claims.subject}")
    principal = await AuthService(state.database, state.rate_limiter).principal_for(claims)
    if principal is None:
        raise NotAuthenticated("Given token not valid or expired.")
    setattr(request.state, PRINCIPAL_STATE_KEY, principal)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_principal)]
TokensDep = Annotated[Tokens, Depends(_tokens)]

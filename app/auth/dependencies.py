"""The caller of a request: the principal its bearer token names, and the unit of work done on
their behalf (app.audit.work), audited under the endpoint's name and ended by the endpoint's
route (app.audit.routing.AuditedRoute). One dependency makes both, so that the principal is
looked up on the work's own connection: a request takes one pooled connection, not two."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from app.audit.routing import use_work
from app.audit.service import AuditEntry
from app.audit.work import UnitOfWork
from app.auth.permissions import Principal
from app.auth.service import principal_for
from app.auth.tokens import Tokens
from app.core.dependencies import client_address
from app.core.errors import NotAuthenticated
from app.models.patient import is_patient_id

bearer_token = OAuth2PasswordBearer(tokenUrl="/api/auth/token/", auto_error=False)
# What the access log names as the request's actor (app.core.observability).
PRINCIPAL_STATE_KEY = "principal"


@dataclass(frozen=True)
class Caller:
    principal: Principal
    work: UnitOfWork


def _entry(request: Request) -> AuditEntry:
    """The request's audit entry: the endpoint's name, on the patient its path names."""
    patient_id = request.path_params.get("patient_id")
    return AuditEntry(
        action=getattr(request.scope.get("route"), "name", "unknown"),
        actor="unknown",
        actor_kind="anonymous",
        patient_id=patient_id if patient_id and is_patient_id(patient_id) else None,
        client_address=client_address(request),
    )


async def _caller(request: Request, token: Annotated[str | None, Depends(bearer_token)]) -> Caller:
    """The caller named by the bearer token (still existing, still active, within their rate),
    and the work done for them."""
    if not token:
        raise NotAuthenticated
    state = request.app.state
    claims = state.tokens.verify(token)
    if claims is None:
        raise NotAuthenticated("Given token not valid or expired.")
    await state.rate_limiter.hit_api(f"{claims.kind}:{claims.subject}")
    status_code = getattr(request.scope.get("route"), "status_code", None) or 200
    work = UnitOfWork(state.database, _entry(request), status_code=status_code, anonymous=True)
    use_work(request, work)
    principal = await principal_for(work, claims)
    if principal is None:
        raise NotAuthenticated("Given token not valid or expired.")
    work.act_as(principal.name, principal.kind)
    setattr(request.state, PRINCIPAL_STATE_KEY, principal)
    return Caller(principal, work)


CallerDep = Annotated[Caller, Depends(_caller)]


async def _principal(caller: CallerDep) -> Principal:
    return caller.principal


async def _work(caller: CallerDep) -> UnitOfWork:
    return caller.work


async def _tokens(request: Request) -> Tokens:
    tokens: Tokens = request.app.state.tokens
    return tokens


CurrentPrincipal = Annotated[Principal, Depends(_principal)]
WorkDep = Annotated[UnitOfWork, Depends(_work)]
TokensDep = Annotated[Tokens, Depends(_tokens)]

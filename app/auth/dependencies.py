"""The caller of a request: the account its bearer token names, and the unit of work done on
their behalf (app.requests.work), audited under the endpoint's action and ended by the endpoint's
route (app.requests.routing.AuditedRoute).

The token's signature and expiry are checked here; whether its account still exists and is
active is the work's own first check, made before any of its statements runs, and within the
first one when that is a read by id. So a read by id is one round trip to the database in all.
Until then the caller is known only as the signed token names them (kind and id): enough for
every rule but one that depends on their role, which waits for the check (`principal()`).
"""

from collections.abc import Callable
from functools import cached_property
from typing import Annotated

from fastapi import Cookie, Depends, Form, Header, Request

from app.audit.service import AuditEntry
from app.auth import devices
from app.auth.permissions import Identity, Principal, patient_principal, staff_principal
from app.auth.reauth import Reauthentication
from app.auth.repository import PATIENT_CALLER, STAFF_CALLER
from app.auth.service import caller_id
from app.auth.sessions import Sessions
from app.auth.tokens import PrincipalKind, Tokens
from app.core.config import Settings
from app.core.dependencies import client_address
from app.core.errors import NotAuthenticated
from app.core.urls import Links
from app.db.query import Executor
from app.models.patient import is_patient_id
from app.requests.routing import action_of, use_work
from app.requests.work import CallerCheck, CallerRow, UnitOfWork

# What the access log names as the request's actor (app.core.observability), once found.
PRINCIPAL_STATE_KEY = "principal"
CALLER_KEY_STATE_KEY = "caller_key"
TOKEN_REFUSED = "Given token not valid or expired."  # noqa: S105 - a message
TOKEN_URL = "/api/auth/token/"  # noqa: S105 - a path
SCHEME_NAME = "BearerCaller"  # the security scheme's name in the OpenAPI document


class Caller(Identity):
    """The account a request's token names, and the work done on their behalf."""

    def __init__(
        self, request: Request, kind: PrincipalKind, id: str, session: str, work: UnitOfWork
    ) -> None:
        self.request = request
        self.kind = kind
        self.id = id  # the staff member's id, or the patient's id
        self.session = session  # the session the token was issued in (app.auth.sessions)
        self.work = work
        self._principal: Principal | None = None

    @cached_property
    def links(self) -> Links:
        """The absolute URLs of the request's answer."""
        return Links(self.request)

    async def principal(self) -> Principal:
        """The caller as the database knows them (name, role), found now if not yet."""
        await self.work.caller_checked()
        assert self._principal is not None, "the work found its caller"
        return self._principal

    def found(self, row: CallerRow) -> None:
        if self.is_staff:
            self._principal = staff_principal(int(self.id), row["name"], row["role"])
        else:
            self._principal = patient_principal(self.id)
        setattr(self.request.state, PRINCIPAL_STATE_KEY, self._principal)


def _entry(request: Request) -> AuditEntry:
    """The request's audit entry: the endpoint's action (its name), on the patient its path
    names; its actor is named once found."""
    patient_id = request.path_params.get("patient_id")
    return AuditEntry(
        action=action_of(request),
        actor="unknown",
        actor_kind="anonymous",
        patient_id=patient_id if patient_id and is_patient_id(patient_id) else None,
        client_address=client_address(request),
    )


def _refused() -> Exception:
    return NotAuthenticated(TOKEN_REFUSED)


async def token_caller(request: Request, token: str) -> Caller:
    """The caller named by a validly signed, unexpired bearer token, within their rate."""
    state = request.app.state
    claims = state.tokens.verify(token)
    if claims is None or (account := caller_id(claims)) is None:
        raise NotAuthenticated(TOKEN_REFUSED)
    await state.rate_limiter.hit_api(f"{claims.kind}:{claims.subject}")
    status_code = getattr(request.scope.get("route"), "status_code", None) or 200
    work = UnitOfWork(state.database, _entry(request), status_code=status_code, anonymous=True)
    use_work(request, work)
    caller = Caller(request, claims.kind, claims.subject, claims.session, work)
    # Its key, not the caller: the caller holds the request, and a cycle through the request's
    # state would keep every request's objects alive until the garbage collector came by.
    setattr(request.state, CALLER_KEY_STATE_KEY, caller.key)
    work.check_caller(
        CallerCheck(
            query=STAFF_CALLER if caller.is_staff else PATIENT_CALLER,
            params={"caller_id": account, "caller_session": claims.session},
            kind=claims.kind,
            accept=caller.found,
            refusal=_refused,
        )
    )
    return caller


def reauthentication(request: Request) -> Reauthentication:
    """For a password the caller gives again: the login's limits, at the request's address."""
    return Reauthentication(request.app.state.rate_limiter, client_address(request))


def caller_key(request: Request) -> str:
    """The request's caller as `staff:<id>` or `patient:<id>`, for a dependency that runs after
    the endpoint's caller dependency (a parameter after it)."""
    key: str | None = getattr(request.state, CALLER_KEY_STATE_KEY, None)
    # Not the build's check (app.requests.rules): a calendar feed's caller is first, but no token's.
    assert key is not None, "the endpoint's caller is a token's (app.auth.access)"
    return key


async def _sessions(request: Request) -> Callable[[Executor], Sessions]:
    """Sessions on a unit of work, with the app's token keys and settings."""
    tokens: Tokens = request.app.state.tokens
    settings: Settings = request.app.state.settings
    return lambda executor: Sessions(executor, tokens, settings)


SessionsDep = Annotated[Callable[[Executor], Sessions], Depends(_sessions)]


async def _device_token(
    device_token: Annotated[
        str | None,
        Form(
            alias=devices.FIELD,
            description="The `device_token` of an earlier login to this account, if the client "
            "keeps one (or send it as the `X-Device-Token` header, or the cookie).",
        ),
    ] = None,
    header: Annotated[str | None, Header(alias=devices.HEADER)] = None,
    cookie: Annotated[str | None, Cookie(alias=devices.COOKIE)] = None,
) -> str | None:
    """A login's device token (app.auth.devices): the form field, the header or the cookie."""
    return device_token or header or cookie


DeviceTokenDep = Annotated[str | None, Depends(_device_token)]

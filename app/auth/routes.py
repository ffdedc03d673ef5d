from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.audit.actions import Action
from app.auth.access import SignedInCaller
from app.auth.dependencies import TOKEN_URL, DeviceTokenDep, SessionsDep
from app.auth.devices import DeviceTokens
from app.auth.permissions import Principal
from app.auth.reset import INVALID_TOKEN, PasswordResets
from app.auth.schemas import (
    LOGIN_FORM,
    LoginToken,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    ResetDone,
    ResetRequested,
    Token,
)
from app.auth.service import AuthService
from app.auth.sessions import Issued
from app.core.dependencies import (
    DatabaseDep,
    JsonBody,
    RateLimiterDep,
    SettingsDep,
    client_address,
)
from app.core.openapi import BODY_ERRORS, errors
from app.mail.dependencies import MailerDep
from app.mail.mailer import deliver
from app.requests.routing import AuditedRoute
from app.requests.work import UnitOfWork

router = APIRouter(prefix="/api/auth", tags=["auth"], route_class=AuditedRoute)


@router.post(
    "/token/",
    name=Action.LOGIN,
    response_model=LoginToken,
    summary="Log in: get a bearer token",
    response_description="The access token, for `Authorization: Bearer …`, and the client's "
    "device token (also set as the `device_token` cookie: HttpOnly, Secure, SameSite=Strict).",
    responses=errors(400, 401, 413, 429, 503),
    openapi_extra={
        "requestBody": {"content": {"application/x-www-form-urlencoded": {"example": LOGIN_FORM}}}
    },
)
async def login(
    request: Request,
    response: Response,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    device_token: DeviceTokenDep,
    database: DatabaseDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
    sessions: SessionsDep,
) -> LoginToken:
    """Log in with a staff username or e-mail, or a patient id, phone number or e-mail, and a
    password: an access token and a refresh token, in a new session, and a device token. Send
    the device token with the account's next logins: the failed logins of other clients (per
    account, per address) then neither slow nor refuse this one; its own wrong passwords are
    counted per device token (`LOGIN_DEVICE_RATE_LIMIT`, then 429)."""
    known = DeviceTokens(settings)

    async def opened(work: UnitOfWork, principal: Principal) -> tuple[Issued, str]:
        return await sessions(work).open_api(principal), known.issue(principal)

    issued, device = await AuthService(database, limiter).login(
        form.username,
        form.password,
        client_address(request),
        then=opened,
        devices=known,
        device_token=device_token,
    )
    known.set_cookie(response, device, path=TOKEN_URL)
    token = Token.model_validate(issued, from_attributes=True)
    return LoginToken(**token.model_dump(), device_token=device)


@router.post(
    "/refresh/",
    name=Action.REFRESH_TOKEN,
    operation_id="refresh",  # its name in the API, older than its action
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
    name=Action.LOGOUT,
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out: end this session",
    response_description="The session is over; its access and refresh tokens no longer work.",
    responses=errors(401, 429, 503),
)
async def logout(caller: SignedInCaller, sessions: SessionsDep) -> None:
    """End the session the bearer token belongs to, for every instance of the service at once."""
    await caller.work.completed_by(sessions(caller.work).end(caller.session))


# -- password resets (app.auth.reset) ------------------------------------------------------


def _body_errors(description: str, example: dict[str, list[str]]) -> dict[int | str, Any]:
    """BODY_ERRORS, 429 and 503, with this endpoint's own 400."""
    responses = errors(*BODY_ERRORS, 429, 503)
    responses[400]["description"] = f"{description} (malformed JSON: `JSON parse error - …`)."
    responses[400]["content"]["application/json"]["example"] = example
    return responses


@router.post(
    "/password-reset/",
    name=Action.PASSWORD_RESET_REQUEST,
    operation_id="request_password_reset",  # its name in the API, older than its action
    response_model=ResetRequested,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[JsonBody],
    summary="Forgot password: mail a reset link",
    response_description="Always this answer, whether the account exists or not.",
    responses=_body_errors(
        "No `username`, or one longer than any login name",
        {"username": ["This field is required."]},
    ),
)
async def request_password_reset(
    request: Request,
    payload: PasswordResetRequest,
    background: BackgroundTasks,
    database: DatabaseDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
    mailer: MailerDep,
) -> ResetRequested:
    """Name an account by any of its login names (staff username or e-mail; patient id, phone
    number or e-mail). If it exists and has an e-mail address, a link to set a new password is
    mailed to that address after the answer: it works once, for `PASSWORD_RESET_TTL_SECONDS`
    (30 minutes), and a new request makes earlier links worthless. The answer is the same, in
    about the same time, whether the account exists or not. Limited per client address and per
    name (then 429)."""
    await PasswordResets(database, limiter, settings).request(
        payload.username,
        client_address(request),
        send_later=lambda message: background.add_task(deliver, mailer, message, "password reset"),
    )
    return ResetRequested()


@router.post(
    "/password-reset/confirm/",
    name=Action.PASSWORD_RESET,
    operation_id="confirm_password_reset",  # its name in the API, older than its action
    response_model=ResetDone,
    dependencies=[JsonBody],
    summary="Set a new password with a reset token",
    response_description="The password is set; every session of the account has ended.",
    responses=_body_errors(
        "An unknown, used or expired `token`, or a `new_password` that breaks a rule (8 to 64 "
        "characters, not common, not entirely numeric, not too like the account's names, phone "
        "number, e-mail or username), named in the message",
        {"token": [INVALID_TOKEN]},
    ),
)
async def confirm_password_reset(
    request: Request,
    payload: PasswordResetConfirm,
    background: BackgroundTasks,
    database: DatabaseDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
    sessions: SessionsDep,
    mailer: MailerDep,
) -> ResetDone:
    """Set the account's password with the token of a reset mail, which is then used up; every
    session of the account ends (its access and refresh tokens stop working): log in with the
    new password. The password follows the usual rules (8 to 64 characters, not common, not
    entirely numeric, not too like the account's names, phone number or e-mail). The account's
    e-mail address, if any, is told of the change after the answer. Limited per client address
    (then 429)."""
    await PasswordResets(database, limiter, settings).confirm(
        payload.token,
        payload.new_password,
        client_address(request),
        sessions,
        send_later=lambda message: background.add_task(
            deliver, mailer, message, "password changed"
        ),
    )
    return ResetDone()

"""What keeps another site from acting through an admin's browser: a CSRF token in every form
(WTForms' session CSRF, bound to the login's server-side session), an `Origin` check on every
unsafe request, and a strict Content-Security-Policy on every page."""

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from wtforms import Form
from wtforms.csrf.session import SessionCSRF
from wtforms.validators import ValidationError

from app.core.config import Settings

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrftoken"  # what the admin's script sends with its DELETE requests
# The key of the random value in the signed session cookie that tokens are made from.
CSRF_SECRET_KEY = "csrf"  # noqa: S105
SESSION_KEY = "session"  # the cookie holds the id of a session on the server (app.auth.sessions)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
MAX_FORM_BYTES = 1024 * 1024  # the admin's forms are small; none uploads a file
CROSS_ORIGIN = "Cross-origin request refused."
BAD_TOKEN = "CSRF token missing or not valid: reload the page and try again."  # noqa: S105


def csrf_secret(secret_key: str) -> bytes:
    return hashlib.sha256(b"therapyconnect admin csrf\x00" + secret_key.encode()).digest()


class SessionBoundCSRF(SessionCSRF):  # type: ignore[misc]  # wtforms has no type hints
    """WTForms' session CSRF (an HMAC of a random value kept in the signed session cookie, and
    an expiry), also over the id of the server-side session the cookie names: a token made
    before a login is no good after it, nor one of an ended session. Compared in constant time;
    a session without a secret refuses every token."""

    def generate_csrf_token(self, csrf_token_field: Any) -> str:
        session = self.session
        if CSRF_SECRET_KEY not in session:
            session[CSRF_SECRET_KEY] = secrets.token_hex(32)
        expires = (self.now() + self.time_limit).strftime(self.TIME_FORMAT)
        return f"{expires}##{self._digest(session, expires)}"

    def validate_csrf_token(self, form: Any, field: Any) -> None:
        data = field.data if isinstance(field.data, str) else ""
        expires, _, digest = data.partition("##")
        session = self.session
        if CSRF_SECRET_KEY not in session or not digest:
            raise ValidationError(BAD_TOKEN)
        if not hmac.compare_digest(digest, self._digest(session, expires)):
            raise ValidationError(BAD_TOKEN)
        if self.now().strftime(self.TIME_FORMAT) > expires:
            raise ValidationError(BAD_TOKEN)

    def _digest(self, session: Any, expires: str) -> str:
        message = f"{session[CSRF_SECRET_KEY]}\x00{session.get(SESSION_KEY, '')}\x00{expires}"
        return hmac.new(self.form_meta.csrf_secret, message.encode(), hashlib.sha256).hexdigest()


class CsrfForm(Form):  # type: ignore[misc]  # wtforms has no type hints
    """Only the token: what the guard checks, and what every form's hidden field carries."""

    class Meta:
        csrf = True
        csrf_class = SessionBoundCSRF
        csrf_field_name = CSRF_FIELD


def _form(request: Request, settings: Settings, token: str | None = None) -> CsrfForm:
    assert settings.secret_key is not None, "settings fill in a development secret"
    data = None if token is None else {CSRF_FIELD: token}
    return CsrfForm(
        data=data,
        meta={
            "csrf_context": request.session,
            "csrf_secret": csrf_secret(settings.secret_key.get_secret_value()),
            "csrf_time_limit": timedelta(seconds=settings.admin_session_seconds),
        },
    )


def csrf_token(request: Request, settings: Settings) -> str:
    """A token for a form of this page (the templates' `csrf_token()`)."""
    token: str = _form(request, settings).csrf_token.current_token
    return token


def valid_csrf_token(request: Request, settings: Settings, token: str | None) -> bool:
    form = _form(request, settings, token or "")
    return bool(form.validate())


def trusted_origins(request: Request, settings: Settings) -> set[str]:
    """The request's own origin and, behind a proxy, the public one."""
    origins = {f"{request.url.scheme}://{request.url.netloc}".lower()}
    if settings.public_base_url:
        public = urlsplit(settings.public_base_url)
        origins.add(f"{public.scheme}://{public.netloc}".lower())
    return origins


def same_origin(request: Request, settings: Settings) -> bool:
    """`Origin`, or `Referer` when a browser sent no `Origin`, names this site. With neither
    (not a browser) the token alone decides."""
    origin = request.headers.get("origin")
    if origin is None and (referer := request.headers.get("referer")) is not None:
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin is None or origin.lower() in trusted_origins(request, settings)


class CsrfGuard:
    """Refuses (403) an unsafe admin request from another origin or without a valid token (the
    form's `csrf_token` field, or the X-CSRFToken header), before anything runs. Inside the
    session middleware: the token is checked against the request's session."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if not same_origin(request, self.settings):
            await PlainTextResponse(CROSS_ORIGIN, status_code=403)(scope, receive, send)
            return
        if not valid_csrf_token(request, self.settings, request.headers.get(CSRF_HEADER)):
            body = await _read_body(receive)
            if body is None:
                await PlainTextResponse("Form too large.", status_code=413)(scope, receive, send)
                return
            receive = _replay(body, receive)
            token = await _form_token(scope, body)
            if not valid_csrf_token(request, self.settings, token):
                await PlainTextResponse(BAD_TOKEN, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body again, for the app behind the guard; then the client's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _form_token(scope: Scope, body: bytes) -> str | None:
    content_type = Request(scope).headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    form_request = Request(scope, _replay(body, _no_more))
    try:
        async with form_request.form() as form:
            value = form.get(CSRF_FIELD)
    except Exception:  # a malformed body has no token; the app would refuse it anyway
        return None
    return value if isinstance(value, str) else None


async def _no_more() -> Message:
    return {"type": "http.disconnect"}

"""Device tokens: OWASP's "device cookies" against the lockout of an account by strangers.

A login that succeeds gives the client a device token: signed (itsdangerous, under SECRET_KEY
with a salt of its own), naming the account and a random device id, good for
DEVICE_TOKEN_TTL_SECONDS. A later login that shows it for the same account is a known client's:
the failures of unknown clients (per account, per address) neither slow nor refuse it, and its
own failures are counted per device (app.core.ratelimit). A token of another account, forged,
or expired is no token: that login is an unknown client's. Nothing is stored on the server.

API clients get it in the login's answer (`device_token`) and send it back as the form field
`device_token` or the `X-Device-Token` header; browsers also get it as an HttpOnly, Secure,
SameSite=Strict cookie scoped to the login's path (the API's and the admin's).
"""

import secrets
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.responses import Response

from app.auth.permissions import Principal
from app.core.config import Settings

COOKIE = "device_token"
HEADER = "X-Device-Token"
FIELD = "device_token"
TOKEN_MAX = 512  # far longer than any token made here; a longer one is not read
_SALT = "therapyconnect login device"


class DeviceTokens:
    def __init__(self, settings: Settings) -> None:
        assert settings.secret_key is not None, "settings fill in a development secret"
        self._serializer = URLSafeTimedSerializer(
            settings.secret_key.get_secret_value(), salt=_SALT
        )
        self.lifetime = settings.device_token_ttl_seconds

    def issue(self, principal: Principal) -> str:
        """A new device token for a client that has just logged in to the account."""
        token: str = self._serializer.dumps({"a": principal.key, "d": secrets.token_urlsafe(16)})
        return token

    def device(self, token: str | None, principal: Principal) -> str | None:
        """The device id of a valid, unexpired token of this account; else None."""
        if not token or len(token) > TOKEN_MAX or not token.isascii():
            return None  # none made here is: a lone surrogate cannot even be encoded
        try:
            claims: Any = self._serializer.loads(token, max_age=self.lifetime)
        except BadData:
            return None
        if not isinstance(claims, dict) or claims.get("a") != principal.key:
            return None
        device = claims.get("d")
        return device if isinstance(device, str) and device else None

    def set_cookie(self, response: Response, token: str, *, path: str) -> None:
        """The token as a cookie that only the login at `path` gets back, never a script."""
        response.set_cookie(
            COOKIE,
            token,
            max_age=self.lifetime,
            path=path,
            secure=True,
            httponly=True,
            samesite="strict",
        )

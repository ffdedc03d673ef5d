"""Access tokens: JWTs signed with HS256 under SECRET_KEY.

A token names its account and the session it was issued in (app.auth.sessions). Its signature is
checked once per process: verifying one costs about 60 µs of PyJWT, more than the rest of the
authentication, and a client sends the same token with every request. Its expiry is checked on
every use; whether its session is still open and its account still exists and is active is the
database's answer, on every request (the caller check of app.requests.work)."""

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt

from app.core.config import Settings

PrincipalKind = Literal["staff", "patient"]
ALGORITHM = "HS256"
VERIFIED_TOKENS_KEPT = 4096


@dataclass(frozen=True)
class TokenClaims:
    kind: PrincipalKind
    subject: str
    session: str  # the id of the session the token was issued in (app.auth.sessions)
    expires_at: float


class Tokens:
    """Makes and verifies the service's access tokens, with one key made at start-up."""

    def __init__(self, settings: Settings) -> None:
        assert settings.secret_key is not None, "settings fill in a development secret"
        self._key = jwt.get_algorithm_by_name(ALGORITHM).prepare_key(
            settings.secret_key.get_secret_value()
        )
        self._jwt = jwt.PyJWT()
        self._issuer = settings.jwt_issuer
        self._lifetime = settings.access_token_ttl_seconds
        self._verified: OrderedDict[str, TokenClaims] = OrderedDict()

    @property
    def lifetime(self) -> int:
        return self._lifetime

    def create(self, *, kind: PrincipalKind, subject: str, session: str) -> str:
        now = datetime.now(UTC)
        claims = {
            "iss": self._issuer,
            "sub": subject,
            "kind": kind,
            "sid": session,
            "iat": now,
            "exp": now + timedelta(seconds=self._lifetime),
            "jti": uuid.uuid4().hex,
        }
        return self._jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: str) -> TokenClaims | None:
        """The token's claims, or None when it is forged, expired, from another issuer or
        malformed."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            if claims is None:
                return None
            self._verified[token] = claims
            if len(self._verified) > VERIFIED_TOKENS_KEPT:
                self._verified.popitem(last=False)
        if claims.expires_at <= time.time():
            self._verified.pop(token, None)
            return None
        return claims

    def _decode(self, token: str) -> TokenClaims | None:
        try:
            claims = self._jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                options={"require": ["exp", "iat", "iss", "sub", "kind", "sid"]},
            )
        except jwt.PyJWTError:
            return None
        kind, subject, session = claims.get("kind"), claims.get("sub"), claims.get("sid")
        if kind not in ("staff", "patient") or not isinstance(subject, str):
            return None
        if not isinstance(session, str) or not _is_uuid(session):
            return None
        return TokenClaims(
            kind=kind, subject=subject, session=session, expires_at=float(claims["exp"])
        )


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.core.config import Settings

PrincipalKind = Literal["staff", "patient"]
TOKEN_ALGORITHM = "HS256"  # noqa: S105 - an algorithm name, not a secret

_passwords = PasswordHash((Argon2Hasher(),))


async def hash_password(password: str) -> str:
    """Argon2id, in a worker thread: hashing takes tens of milliseconds of CPU."""
    return await asyncio.to_thread(_passwords.hash, password)


async def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Whether the password matches, and a new hash when the stored one has outdated parameters.

    With no hash (an unknown user) a dummy hash is checked, so the answer takes as long.
    """
    if password_hash is None:
        await asyncio.to_thread(_passwords.verify, password, _dummy_hash())
        return False, None
    return await asyncio.to_thread(_passwords.verify_and_update, password, password_hash)


_dummy_hashes: dict[int, str] = {}


def _dummy_hash() -> str:
    # One per hasher, so the timing matches the hasher in use (tests swap in a cheap one).
    key = id(_passwords)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = _passwords.hash("timing-equaliser")
    return _dummy_hashes[key]


@dataclass(frozen=True)
class TokenClaims:
    kind: PrincipalKind
    subject: str


def create_access_token(settings: Settings, *, kind: PrincipalKind, subject: str) -> str:
    now = datetime.now(UTC)
    claims = {
        "iss": settings.jwt_issuer,
        "sub": subject,
        "kind": kind,
        "iat": now,
        "exp": now + timedelta(seconds=settings.access_token_ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, _signing_key(settings), algorithm=TOKEN_ALGORITHM)


def decode_access_token(settings: Settings, token: str) -> TokenClaims | None:
    """The token's claims, or None when it is forged, expired, from another issuer or malformed."""
    try:
        claims = jwt.decode(
            token,
            _signing_key(settings),
            algorithms=[TOKEN_ALGORITHM],
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "iss", "sub", "kind"]},
        )
    except jwt.PyJWTError:
        return None
    kind, subject = claims.get("kind"), claims.get("sub")
    if kind not in ("staff", "patient") or not isinstance(subject, str):
        return None
    return TokenClaims(kind=kind, subject=subject)


def _signing_key(settings: Settings) -> str:
    assert settings.secret_key is not None, "settings fill in a development secret"
    return settings.secret_key.get_secret_value()

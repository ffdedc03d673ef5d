"""The Host a request names: refused unless allowed, and replaced by PUBLIC_BASE_URL when set.

Every absolute URL the service writes (pages, `profile_picture`, `Location` of a redirect, the
admin's links) is built by Starlette from the request's scheme and Host. A hostile Host would put
the attacker's address in them; so with PUBLIC_BASE_URL set the request is made to name it before
anything reads it, and ALLOWED_HOSTS bounds what a request may name at all (Django's rules).
"""

import json
import re
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import Settings

# Health checks and operators on the machine itself name these.
LOOPBACK = ("localhost", "127.0.0.1", "::1")
REFUSED = json.dumps({"detail": "Host not allowed."}).encode()


# Django's: a domain or an IPv6 literal in brackets, and an optional port.
HOST_PATTERN = re.compile(r"^([a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9.:]+\])(:[0-9]+)?$")


def split_host(host: str) -> str:
    """The domain of a Host header value, lowercased, without its port ('' when malformed)."""
    match = HOST_PATTERN.match(host.lower())
    if match is None:
        return ""
    return match.group(1).removeprefix("[").removesuffix("]").rstrip(".")


def host_allowed(domain: str, patterns: list[str]) -> bool:
    """Django's ALLOWED_HOSTS match: exact, ".example.org" for it and its subdomains, "*" any."""
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern == "*" or domain == pattern:
            return True
        if pattern.startswith(".") and (domain.endswith(pattern) or domain == pattern[1:]):
            return True
    return False


def allowed_patterns(settings: Settings) -> list[str] | None:
    """The hosts a request may name: ALLOWED_HOSTS, PUBLIC_BASE_URL's and the loopback names;
    None (any) outside production when ALLOWED_HOSTS is empty."""
    if not settings.allowed_hosts and settings.environment != "production":
        return None  # PUBLIC_BASE_URL, if set, still keeps the Host out of every link
    patterns = list(settings.allowed_hosts)
    if settings.public_base_url:
        patterns.append(urlsplit(settings.public_base_url).hostname or "")
    return [*patterns, *LOOPBACK]


class HostMiddleware:
    """400 for a Host not allowed; with a public base URL, the request names it instead."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.patterns = allowed_patterns(settings)
        self.public: tuple[str, bytes, tuple[str, int]] | None = None
        if settings.public_base_url:
            base = urlsplit(settings.public_base_url)
            assert base.hostname is not None, "settings check the URL"
            port = base.port or (443 if base.scheme == "https" else 80)
            self.public = (base.scheme, base.netloc.encode("latin-1"), (base.hostname, port))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.patterns is not None and not host_allowed(_host(scope), self.patterns):
            await _refuse(send)
            return
        if self.public is not None:
            scheme, netloc, server = self.public
            headers = [(name, value) for name, value in scope["headers"] if name != b"host"]
            headers.append((b"host", netloc))
            scope = {**scope, "scheme": scheme, "server": server, "headers": headers}
        await self.app(scope, receive, send)


def _host(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"host":
            return split_host(value.decode("latin-1"))
    return ""


async def _refuse(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(REFUSED)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": REFUSED})

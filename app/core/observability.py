"""Every request's id, access log line and HTTP metrics, in one pure ASGI middleware.

It is the outermost of the service's middleware (create_app adds it last), so it sees every
answer: the 413 of BodyLimitMiddleware and the 500 and 503 of CatchAllMiddleware included.
"""

import time
import uuid
from typing import Any

import structlog
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logging import log_request
from app.core.metrics import UNMATCHED, observe_request

REQUEST_ID_HEADER = b"x-request-id"
REQUEST_ID_MAX_LENGTH = 128
# What the caller's dependency (app/auth/dependencies.py, Caller.principal) leaves in request.state.
PRINCIPAL_STATE_KEY = "principal"


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID when it is 1-128 printable ASCII characters, else a new one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if 0 < len(value) <= REQUEST_ID_MAX_LENGTH and value.isascii():
                text = value.decode("ascii")
                if text.isprintable():
                    return text
            break
    return uuid.uuid4().hex


def route_template(scope: Scope, root_path: str) -> str:
    """The path template of the route that answered (`/api/patients/{patient_id}/`), with the
    prefix of any mount it is in (`/admin/{identity}/list`); never the requested path."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    # Mounts add the path they matched to root_path: the mounts here have fixed paths.
    mounted: str = scope.get("root_path", "")[len(root_path) :]
    if isinstance(route, Mount):
        return mounted + "/{path}"
    template = getattr(route, "path_format", None)
    return mounted + template if isinstance(template, str) else UNMATCHED


def actor_of(scope: Scope) -> str | None:
    state = scope.get("state")
    principal: Any = state.get(PRINCIPAL_STATE_KEY) if isinstance(state, dict) else None
    return None if principal is None else f"{principal.kind}:{principal.id}"


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: bool = True) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope["headers"])
        id_header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        root_path = scope.get("root_path", "")
        status = 500  # what the server answers when an exception escapes before a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        bound = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            method: str = scope["method"]
            route = route_template(scope, root_path)
            if self.metrics:
                observe_request(method, route, status, seconds)
            log_request(
                request_id=request_id,
                method=method,
                route=route,
                status=status,
                seconds=seconds,
                actor=actor_of(scope),
                query=scope.get("query_string", b""),
            )
            structlog.contextvars.reset_contextvars(**bound)

"""Request bodies are capped before the app reads them: 413 in the contract's format."""

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings
from app.core.errors import PayloadTooLarge

MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the uploaded file


def body_limit(settings: Settings, content_type: str, path: str = "") -> tuple[int, str]:
    """The largest body a request of this media type (to this path) may send, and the 413's
    message. A patient document's upload may be larger than a picture."""
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        limit = settings.picture_max_bytes
        if _is_documents(path):
            limit = max(limit, settings.document_max_bytes)
        return limit + MULTIPART_OVERHEAD, PayloadTooLarge(limit).detail
    limit = settings.json_max_bytes
    return limit, PayloadTooLarge(limit, "Request body").detail


def _is_documents(path: str) -> bool:
    """`/api/patients/{id}/documents/` (and below): the documents' uploads."""
    parts = path.split("/")
    return len(parts) >= 5 and parts[1:3] == ["api", "patients"] and parts[4] == "documents"


class BodyTooLarge(HTTPException):
    """Raised from `receive`. An HTTPException, so FastAPI's body parsing passes it on as it is
    instead of turning it into a 400."""

    def __init__(self, detail: str) -> None:
        super().__init__(413, detail)


class BodyLimitMiddleware:
    """413 for a Content-Length over the cap, without reading the body, and for a chunked body
    once it streams past the cap: then whatever the app was about to answer is replaced. A
    request with neither header has no body (RFC 9112, 6.3) and passes untouched."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: bytes | None = None
        content_type = b""
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"content-type":
                content_type = value
            elif name == b"transfer-encoding":
                chunked = True
        if length is None and not chunked:
            await self.app(scope, receive, send)
            return
        limit, detail = body_limit(
            self.settings, content_type.decode("latin-1"), scope.get("path", "")
        )

        def too_large() -> JSONResponse:
            return JSONResponse({"detail": detail}, status_code=413)

        if length is not None and length.isdigit() and int(length) > limit:
            await too_large()(scope, receive, send)
            return

        received = 0
        exceeded = started = replaced = False

        async def capped_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(detail)
            return message

        async def checked_send(message: Message) -> None:
            nonlocal started, replaced
            if replaced:
                return  # the rest of the answer the 413 replaced
            if message["type"] == "http.response.start" and exceeded:
                replaced = True
                await too_large()(scope, receive, send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped_receive, checked_send)
        except Exception:
            if not exceeded or started:
                raise
            if not replaced:
                await too_large()(scope, receive, send)

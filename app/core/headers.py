"""Security headers on every response."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# The API returns data, never pages: nothing in it may run, load or be cached.
API_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
# The admin's pages (under /admin): scripts, styles, images and fonts only from this site, no
# inline script, forms post only here, no other site may frame it; the Referer stays for its
# origin check; and no browser or proxy keeps a copy of a page (they show patient data).
ADMIN_PATH = "/admin"
ADMIN_STATIC_PATH = "/admin/statics/"
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # the stylesheet's icons are data: URLs
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)
ADMIN_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "same-origin",
}
HSTS = {"Strict-Transport-Security": "max-age=63072000; includeSubDomains"}


Raw = list[tuple[bytes, bytes]]


def _raw(headers: dict[str, str]) -> Raw:
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]


class SecurityHeadersMiddleware:
    """Adds each header the response does not set itself (a picture's own Cache-Control stays)."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        common = {**COMMON_HEADERS, **(HSTS if hsts else {})}
        self.pages = _raw(common)
        self.api = _raw({**common, **API_HEADERS})
        self.admin_static = _raw({**common, **ADMIN_HEADERS})
        self.admin = _raw({**common, **ADMIN_HEADERS, "Cache-Control": "no-store"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._headers(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                present = {name.lower() for name, _ in headers}
                message["headers"] = [
                    *headers,
                    *(header for header in extra if header[0] not in present),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _headers(self, path: str) -> Raw:
        if path.startswith("/api/"):
            return self.api
        if path.startswith(ADMIN_PATH):
            return self.admin_static if path.startswith(ADMIN_STATIC_PATH) else self.admin
        return self.pages

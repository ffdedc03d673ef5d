"""How uvicorn serves the app: httptools with a bound on a request's head, and no proxy headers but
those the app believes (FORWARDED_ALLOW_IPS, app.main), however uvicorn was launched."""

import asyncio
import json
import logging
from itertools import chain
from typing import Any

from uvicorn import Config
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from app.core.config import get_settings

TOO_LARGE = json.dumps({"detail": "Request header fields too large."}).encode()
# `uvicorn --http` takes this import path; `python -m app serve` passes the class.
PROTOCOL = "app.core.server:BoundedHttpToolsProtocol"
COMMAND = f"uvicorn app.main:app --http {PROTOCOL} --no-proxy-headers"
HEADER_FRAMING = len(b": \r\n")
BODILESS = frozenset({"GET", "HEAD"})  # the hot path reads no headers for a body
LINGER_SECONDS = 30.0

logger = logging.getLogger("app.server")


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """httptools reads a request line and headers of any size into memory (a 64 MB header was
    read), and uvicorn has no setting for it: past MAX_REQUEST_HEADER_BYTES, a 431 and the
    connection closed.

    A whole head is counted exactly once parsed, from what the parser handed over (the target
    and the headers), so body bytes read together with it never count. A head still arriving
    is kept (its last header inside httptools) where it cannot be measured: it is bounded by
    the reads it spans, so it holds at most one read (256 KiB) past the limit before the 431.
    Counting per header instead costs every request a call per header, for nothing more.

    An answer sent before its request's body is read (a 413 on Content-Length) is followed by
    the rest of that body: read and dropped before the connection closes (else the kernel
    answers the bytes still coming with a reset, and the client loses the 413), for at most
    LINGER_SECONDS; then, on a kept-alive connection, the keep-alive timeout runs again (uvicorn
    leaves such a connection open for ever).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_head = get_settings().max_request_header_bytes
        self.in_head = False  # from the request line's first byte to the end of its headers
        self.spanned = 0  # an unfinished head's bound: the reads it spans
        self.began_in_read = False
        self.refused = False
        self.body_read = True  # all of the current request's body has arrived
        self.body_started = False
        self.close_when_read = False

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        self.began_in_read = False
        super().data_received(data)
        if self.in_head and not self.refused and not self.transport.is_closing():
            # A head unfinished at the end of a read: httptools holds it where it cannot be
            # measured. All of this read is head if the head began before it; if it began in
            # it, its part is not known (at most the read).
            self.spanned = 0 if self.began_in_read else self.spanned + len(data)
            if self.spanned > self.max_head:
                self._refuse()

    def on_message_begin(self) -> None:
        if self.refused:
            return
        super().on_message_begin()
        self.in_head = self.began_in_read = True
        self.spanned = 0

    def on_headers_complete(self) -> None:
        if self.refused:
            return
        self.in_head = False
        # The whole head, exactly: its target, and each header's name and value with ": " and
        # CRLF.
        headers = self.headers
        size = len(self.url) + HEADER_FRAMING * len(headers) + sum(map(len, chain(*headers)))
        if size > self.max_head:
            self._refuse()
            return
        cycle = self.cycle
        super().on_headers_complete()
        self.body_read = True
        if self.cycle is not cycle and self.scope["method"] not in BODILESS and _has_body(self):
            self.body_read = self.body_started = False
            self.cycle.transport = _LingeringTransport(self)  # type: ignore[assignment]

    def on_body(self, body: bytes) -> None:
        if not self.refused:
            self.body_started = True
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self.refused:
            return
        self.body_read = True
        answered = self.cycle is not None and self.cycle.response_complete
        super().on_message_complete()
        if self.close_when_read:
            self.transport.close()
        elif answered and not self.pipeline and self.timeout_keep_alive_task is None:
            # The rest of an answered request's body: the connection is idle again.
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def close_after_body(self) -> None:
        """A cycle's close: now, or once the rest of its request's body has been dropped. Now
        too when the client waits for 100 Continue and has sent none of it: it will not."""
        waiting = self.expect_100_continue and not self.body_started
        if self.body_read or waiting or self.transport.is_closing():
            self.transport.close()
            return
        self.close_when_read = True
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.refused and not self.transport.is_closing():
            if self.cycle.response_complete:
                self._answer_too_large()
            else:
                self.flow.pause_reading()  # super() resumed it for the next pipelined request

    def _refuse(self) -> None:
        self.refused = True
        self.logger.warning("Request header fields too large: connection closed.")
        if self.cycle is None or self.cycle.response_complete:
            self._answer_too_large()
        else:
            # The answers to the requests before it go first, in order; nothing more is read.
            self.flow.pause_reading()

    def _answer_too_large(self) -> None:
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[431],
                    b"content-type: application/json\r\n",
                    b"content-length: " + str(len(TOO_LARGE)).encode() + b"\r\n",
                    b"connection: close\r\n\r\n",
                    TOO_LARGE,
                ]
            )
        )
        self.transport.close()


def _has_body(protocol: HttpToolsProtocol) -> bool:
    return any(
        name == b"transfer-encoding" or (name == b"content-length" and value.strip(b"0 "))
        for name, value in protocol.headers
    )


class _LingeringTransport:
    """The transport as the cycle of a request with a body sees it: its close waits for the
    rest of the body (BoundedHttpToolsProtocol.close_after_body)."""

    def __init__(self, protocol: BoundedHttpToolsProtocol) -> None:
        self.protocol = protocol
        self.transport = protocol.transport

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def close(self) -> None:
        self.protocol.close_after_body()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class UnsafeServer(RuntimeError):
    pass


def secure_uvicorn(config: Config) -> list[str]:
    """Make a uvicorn launched without the image's flags serve as if it had them: what it changed.

    Its defaults believe X-Forwarded-For and -Proto from any loopback peer (proxy_headers, with
    FORWARDED_ALLOW_IPS 127.0.0.1) and read a head of any size (httptools): the app believes only
    the proxies of its own settings, and every connection gets the bounded protocol. Called
    before the server listens: uvicorn reads both for each connection it accepts."""
    changed: list[str] = []
    if isinstance(config.loaded_app, ProxyHeadersMiddleware):
        config.loaded_app = config.loaded_app.app
        config.proxy_headers = False
        changed.append("uvicorn's proxy headers off")
    protocol = config.http_protocol_class
    if not issubclass(protocol, BoundedHttpToolsProtocol):
        if not issubclass(protocol, HttpToolsProtocol | H11Protocol):
            raise UnsafeServer(
                f"Refusing to serve over {protocol.__module__}.{protocol.__qualname__}: it has no "
                f"bound on a request's head. Serve with `{COMMAND}` or `python -m app serve`."
            )
        config.http_protocol_class = BoundedHttpToolsProtocol
        changed.append(f"--http {PROTOCOL}")
    return changed


def secure_server() -> None:
    """Called first thing in the app's lifespan: under uvicorn, secure_uvicorn; its refusal
    fails the start, with its reason in the log."""
    if (config := _serving_config()) is None:
        return
    try:
        changed = secure_uvicorn(config)
    except UnsafeServer as refusal:
        logger.error(str(refusal))
        raise
    if changed:
        logger.warning(
            "Launched without the image's flags; set for it: %s. Serve with `%s` or "
            "`python -m app serve`.",
            ", ".join(changed),
            COMMAND,
        )


def _serving_config() -> Config | None:
    """The Config of the uvicorn running the app's lifespan: the lifespan's task runs a method
    of the object that holds it (uvicorn.lifespan.on.LifespanOn.main), whatever wraps the
    lifespan's messages on the way in. None under another server, or a test's lifespan."""
    task = asyncio.current_task()
    frame = getattr(task.get_coro() if task else None, "cr_frame", None)
    owner = frame.f_locals.get("self") if frame is not None else None
    config = getattr(owner, "config", None)
    return config if isinstance(config, Config) else None

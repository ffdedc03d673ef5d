"""How uvicorn serves the app: httptools, with a bound on a request's head.

httptools reads a request line and headers of any size into memory (a 64 MB header was read), and
uvicorn has no setting for it; so the protocol counts the bytes of a head as they arrive and
answers 431, closing the connection, once they pass MAX_REQUEST_HEADER_BYTES.
"""

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from app.core.config import get_settings

TOO_LARGE = json.dumps({"detail": "Request header fields too large."}).encode()
# `uvicorn --http` takes this import path; `python -m app serve` passes the class.
PROTOCOL = "app.core.server:BoundedHttpToolsProtocol"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_head = get_settings().max_request_header_bytes
        self.head_bytes = 0
        self.in_head = True
        self.head_ended = False
        self.refused = False

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        self.head_ended = False
        super().data_received(data)
        if not self.in_head or self.transport.is_closing():
            return
        # A head still arriving is counted in whole reads, for memory: one that ended a head (and
        # may hold its body and the next pipelined heads) starts the count again, so an
        # unfinished head may pass the limit by one read (at most 256 KiB) before it is refused.
        self.head_bytes = 0 if self.head_ended else self.head_bytes + len(data)
        if self.head_bytes > self.max_head:
            self._refuse()

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.head_ended = True
        self.head_bytes = 0
        # A whole head, exactly: its target and its headers' names and values.
        size = len(self.url) + sum(len(name) + len(value) for name, value in self.headers)
        if size > self.max_head:
            self._refuse()
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self.refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self.in_head = True
        if not self.refused:
            super().on_message_complete()

    def _refuse(self) -> None:
        self.refused = True
        self.logger.warning("Request header fields too large: connection closed.")
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

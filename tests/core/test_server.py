"""The head of a request is bounded (app/core/server.py), through a real uvicorn on a socket."""

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn

from app.core.config import get_settings
from app.core.server import BoundedHttpToolsProtocol

LIMIT = get_settings().max_request_header_bytes


async def echo(scope, receive, send) -> None:
    """Answers with the size of the body it read."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    config = uvicorn.Config(
        echo, host="127.0.0.1", port=free, http=BoundedHttpToolsProtocol, log_level="error"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # uvicorn sets a flag, not an event, once it listens
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    yield free
    server.should_exit = True
    await task


async def exchange(port: int, *requests: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            writer.write(request)
            await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


def get(headers: str = "", path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode()


async def test_a_head_within_the_limit_is_served(port):
    answer = await exchange(port, get("X-Big: " + "a" * (LIMIT - 200) + "\r\n"))
    assert answer.startswith(b"HTTP/1.1 200 ")


async def test_a_head_past_the_limit_is_a_431_and_the_connection_closes(port):
    answer = await exchange(port, get("X-Big: " + "a" * (LIMIT + 1) + "\r\n"))
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert answer.endswith(b'{"detail": "Request header fields too large."}')


async def test_a_long_header_sent_in_pieces_is_stopped_early(port):
    """The defect: a 64 MB header was read. Its pieces stop at the limit, not at the end."""
    start = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: "
    pieces = [start] + [b"a" * 65536] * 16  # 1 MiB in all, well past the limit
    answer = await exchange(port, *pieces)
    assert answer.startswith(b"HTTP/1.1 431 ") or answer == b""


async def test_many_headers_count_together(port):
    headers = "".join(f"X-H{n}: {'b' * 100}\r\n" for n in range(LIMIT // 100))
    answer = await exchange(port, get(headers))
    assert answer.startswith(b"HTTP/1.1 431 ")


async def test_a_body_is_not_counted_as_head(port):
    body = b"x" * (4 * LIMIT)
    request = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )
    answer = await exchange(port, request)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(str(len(body)).encode())


async def test_each_request_of_a_connection_has_its_own_budget(port):
    near = "X-Big: " + "a" * (LIMIT // 2) + "\r\n"
    keep = f"GET / HTTP/1.1\r\nHost: x\r\n{near}\r\n".encode()
    answer = await exchange(port, keep, keep, keep, get(near))
    assert answer.count(b"HTTP/1.1 200 ") == 4

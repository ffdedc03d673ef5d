"""The head of a request is bounded (app/core/server.py), through a real uvicorn on a socket."""

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn

from app.core.config import get_settings
from app.core.server import BoundedHttpToolsProtocol

LIMIT = get_settings().max_request_header_bytes
KEEP_ALIVE = 1


async def echo(scope, receive, send) -> None:
    """Answers with the size of the body it read (/slow: after a fifth of a second; /early: at
    once, reading none of it, as a 413 on Content-Length does)."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(0.2)
    if scope["path"] == "/early":
        headers = [(b"content-length", b"5")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": b"early"})
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
        echo,
        host="127.0.0.1",
        port=free,
        http=BoundedHttpToolsProtocol,
        log_level="error",
        timeout_keep_alive=KEEP_ALIVE,
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


async def exchange(port: int, *requests: bytes, pause: float = 0) -> bytes:
    """Each request written on its own (after `pause` seconds: then the server reads each
    apart); the answers until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            writer.write(request)
            await writer.drain()
            await asyncio.sleep(pause)
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


def post(body: bytes, path: str = "/", close: bool = True) -> bytes:
    connection = b"Connection: close\r\n" if close else b""
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n".encode()
        + connection
        + b"\r\n"
        + body
    )


def head_of(size: int) -> bytes:
    """A GET whose head counts exactly `size`: its target, and each header's name, value, ": "
    and CRLF."""
    fixed = len("/") + len("hostx: \r\n") + len("connectionclose: \r\n")
    filler = size - fixed - len("x-big: \r\n")
    return get("X-Big: " + "a" * filler + "\r\n")


async def test_the_head_is_counted_exactly(port):
    assert (await exchange(port, head_of(LIMIT))).startswith(b"HTTP/1.1 200 ")
    assert (await exchange(port, head_of(LIMIT + 1))).startswith(b"HTTP/1.1 431 ")


async def test_a_body_read_apart_from_its_head_is_never_counted(port):
    """The defect: the read that ended a body was counted as a head (a 431 for most uploads
    that took more than one read, whenever that read was past the limit)."""
    body = b"x" * (1000 + 4 * 2 * LIMIT)
    request = post(body)
    first = len(request) - 4 * 2 * LIMIT  # the head and 1000 bytes; then reads of 2 x LIMIT
    pieces = [request[:first]] + [
        request[start : start + 2 * LIMIT] for start in range(first, len(request), 2 * LIMIT)
    ]
    answer = await exchange(port, *pieces, pause=0.02)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert answer.endswith(str(len(body)).encode())


async def test_a_head_and_its_body_in_one_write(port):
    for size in (1, LIMIT - 1, LIMIT, 10 * LIMIT, 300 * 1024, 3 * 1024 * 1024):
        answer = await exchange(port, post(b"y" * size))
        assert answer.startswith(b"HTTP/1.1 200 "), (size, answer[:200])
        assert answer.endswith(str(size).encode())


async def test_a_request_pipelined_after_a_body_is_served(port):
    """The next request's head arrives in the same read as the end of a body, and after it."""
    body = b"z" * (3 * LIMIT)
    both = post(body, close=False) + post(b"abc")
    answer = await exchange(port, both)
    assert answer.count(b"HTTP/1.1 200 ") == 2, answer[:400]
    assert answer.index(str(len(body)).encode()) < answer.rindex(b"3")
    answer = await exchange(port, post(body, close=False), post(b"abc"), pause=0.05)
    assert answer.count(b"HTTP/1.1 200 ") == 2


async def test_an_unfinished_head_is_refused_within_a_read_of_the_limit(port):
    """Dripped in small reads, a header is refused once its reads pass the limit: the memory it
    holds stays bounded, whatever its length."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
    try:
        while sent < 8 * LIMIT:
            writer.write(b"a" * 1024)
            await writer.drain()
            sent += 1024
            try:
                answer = await asyncio.wait_for(reader.read(), timeout=0.01)
            except TimeoutError:
                continue
            break
    except ConnectionError:
        answer = b""
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert sent <= LIMIT + 16 * 1024


async def test_a_refusal_comes_after_the_answers_before_it(port):
    """A pipelined head too large is answered in its turn: after the request before it."""
    answer = await exchange(port, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" + head_of(LIMIT + 1))
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert answer.count(b"HTTP/1.1 431 ") == 1
    assert answer.index(b"HTTP/1.1 200 ") < answer.index(b"HTTP/1.1 431 ")


def send_all_then_read(port: int, data: bytes, wait: float) -> tuple[bytes, str]:
    """`data` written whole, then what the server answers within `wait` seconds, and how the
    connection ended: "closed", "reset", or "open" (still open when the wait ran out)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        try:
            sock.sendall(data)
        except ConnectionError:
            return b"", "reset"
        sock.settimeout(wait)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            return answer, "open"
        except ConnectionResetError:
            return answer, "reset"
        return answer, "closed"


async def test_an_early_answer_to_a_closing_request_is_read_not_reset(port):
    """A client that asked to close, answered before its body was read: the body is drained
    before the connection closes, else the bytes still arriving make the kernel reset it."""
    request = post(b"x" * (3 * 1024 * 1024), path="/early")
    answer, end = await asyncio.to_thread(send_all_then_read, port, request, 5)
    assert end == "closed", answer[:200]
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert answer.endswith(b"early")


async def test_a_drained_connection_times_out_like_any_idle_one(port):
    """Kept alive after an early answer and its drained body: the keep-alive timeout runs
    again (uvicorn left such a connection open for ever)."""
    request = post(b"x" * (3 * 1024 * 1024), path="/early", close=False)
    answer, end = await asyncio.to_thread(send_all_then_read, port, request, KEEP_ALIVE + 3)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert end == "closed"


async def test_the_connection_still_serves_after_a_drained_body(port):
    request = post(b"x" * (3 * 1024 * 1024), path="/early", close=False) + post(b"abc")
    answer = await exchange(port, request)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert answer.count(b"HTTP/1.1 200 ") == 1
    assert answer.endswith(b"3")

"""Every upload and request body through the service as the image runs it: the Dockerfile's CMD
on a socket, not ASGITransport. Clients that write a request's head and body at once (httpx, a
raw socket), curl (which waits for 100 Continue), chunked bodies; sizes from 1 KiB to each
limit, and one byte past it (413). The defect: a body read apart from its head was counted as
a head, and uploads got 431."""

import asyncio
import functools
import io
import json
import random
import re
import shutil
import socket
import struct
import subprocess
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from PIL import Image
from sqlalchemy.engine import make_url

from app.auth.commands import create_staff
from app.core.bodylimit import MULTIPART_OVERHEAD
from app.core.config import Settings
from app.core.errors import PayloadTooLarge
from tests.conftest import EVERY_TABLE, STAFF_PASSWORD
from tests.factories import patient_payload
from tests.served import Served, exchange, image_command, responses, server_env, serving
from tests.test_deploy import free_port

KIB = 1024
CURL = shutil.which("curl")


# --- files of an exact size, valid all the same ---------------------------------------------------


@functools.cache  # each size is sent by three clients
def png_of(size: int) -> bytes:
    """A PNG of random pixels (they do not compress), padded to `size` bytes with a private
    ancillary chunk that decoders skip."""
    side = int((size / 3.05) ** 0.5)
    while True:
        pixels = random.randbytes(side * side * 3)
        out = io.BytesIO()
        Image.frombytes("RGB", (side, side), pixels).save(out, "PNG", compress_level=1)
        data = out.getvalue()
        if len(data) + 12 <= size:
            break
        side = max(1, int(side * 0.98) - 1)
    padding = b"\0" * (size - len(data) - 12)
    chunk = b"paDd" + padding
    padded = struct.pack(">I", len(padding)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    iend = data.rindex(b"IEND") - 4
    png = data[:iend] + padded + data[iend:]
    assert len(png) == size
    return png


@functools.cache
def pdf_of(size: int) -> bytes:
    """A one-page PDF, padded to `size` bytes with a comment after its header."""

    def build(padding: int) -> bytes:
        out = b"%PDF-1.4\n%" + b"x" * padding + b"\n"
        objects = [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        ]
        offsets = []
        for number, body in enumerate(objects, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
        return out + b"startxref\n%d\n%%%%EOF\n" % xref

    padding = 0
    for _ in range(5):  # startxref's digits grow with the padding
        padding += size - len(build(padding))
    pdf = build(padding)
    assert len(pdf) == size
    return pdf


def padded_json(value: dict[str, Any], size: int) -> bytes:
    """`value` as JSON, padded with whitespace (still JSON) to `size` bytes."""
    body = json.dumps(value).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


# --- the server and its data ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    port = free_port()
    log = tmp_path_factory.mktemp("served") / "uvicorn.log"
    with serving(image_command(port), server_env(settings), log, port) as served:
        yield served
    asyncio.run(_empty_tables(settings))


async def _empty_tables(settings: Settings) -> None:
    assert settings.database_url is not None
    url = make_url(settings.database_url).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await connection.execute(f"TRUNCATE {EVERY_TABLE}")
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def token(server: Served, settings: Settings) -> str:
    username = f"served-{uuid.uuid4().hex[:6]}"
    asyncio.run(create_staff(settings, username=username, password=STAFF_PASSWORD, role="admin"))
    login = httpx.post(
        f"{server.base_url}/api/auth/token/",
        data={"username": username, "password": STAFF_PASSWORD},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    value: str = login.json()["access_token"]
    return value


@pytest.fixture(scope="module")
def patient(server: Served, token: str) -> str:
    """The path of a patient's record."""
    created = httpx.post(
        f"{server.base_url}/api/patients/",
        json=patient_payload(),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    return f"/api/patients/{created.json()['id']}/"


# --- the three clients ---------------------------------------------------------------------------


def request(
    server: Served,
    token: str,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    **content: Any,
) -> httpx.Request:
    return httpx.Request(
        method,
        server.base_url + path,
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
        **content,
    )


def send_httpx(outgoing: httpx.Request) -> tuple[int, bytes]:
    with httpx.Client(timeout=60) as client:
        answer = client.send(outgoing)
    return answer.status_code, answer.content


def send_socket(server: Served, outgoing: httpx.Request) -> tuple[int, bytes]:
    """The head and the body in one write: the server reads them together."""
    target = outgoing.url.raw_path.decode()
    head = f"{outgoing.method} {target} HTTP/1.1\r\n"
    headers = {**outgoing.headers, "connection": "close"}
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    [(status, _, body)] = responses(exchange(server.port, head.encode() + outgoing.read()))
    return status, body


def send_curl(outgoing: httpx.Request, folder: Path) -> tuple[int, bytes]:
    """curl with the body from a file; for a body past 1 KiB it sends `Expect: 100-continue`
    and waits for the server to ask for the body."""
    assert CURL is not None, "curl is needed (apt-get install curl; .ci/run installs it)"
    body, answer = folder / "body", folder / "answer"
    body.write_bytes(outgoing.read())
    command = [CURL, "-sS", "-X", outgoing.method, "--data-binary", f"@{body}"]
    command += ["-o", str(answer), "-w", "%{http_code}"]
    for name, value in outgoing.headers.items():
        if name not in {"host", "content-length"}:
            command += ["-H", f"{name}: {value}"]
    result = subprocess.run(  # noqa: S603 - curl, with arguments made here
        [*command, str(outgoing.url)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout), answer.read_bytes()


def send(
    client: str, server: Served, outgoing: httpx.Request, folder: Path
) -> tuple[int, dict[str, Any]]:
    if client == "httpx":
        status, body = send_httpx(outgoing)
    elif client == "socket":
        status, body = send_socket(server, outgoing)
    else:
        status, body = send_curl(outgoing, folder)
    parsed: dict[str, Any] = json.loads(body)
    return status, parsed


CLIENTS = ["httpx", "socket", "curl"]


def sizes(limit: int) -> list[tuple[int, int]]:
    """(size, status): 1 KiB, two between, exactly the limit, and one byte past it."""
    return [(KIB, 0), (limit // 8, 0), (limit // 2 + 7, 0), (limit, 0), (limit + 1, 413)]


# --- pictures, documents and JSON, each size through each client --------------------------------

PICTURE_MAX = Settings().picture_max_bytes
DOCUMENT_MAX = Settings().document_max_bytes
JSON_MAX = Settings().json_max_bytes
PICTURE_TOO_LARGE = PayloadTooLarge(PICTURE_MAX).body()
DOCUMENT_TOO_LARGE = PayloadTooLarge(DOCUMENT_MAX).body()
JSON_TOO_LARGE = PayloadTooLarge(JSON_MAX, "Request body").body()


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(("size", "refused"), sizes(PICTURE_MAX))
def test_a_picture_upload(server, token, patient, client, size, refused, tmp_path):
    picture = png_of(size)
    files = {"file": ("picture.png", picture, "image/png")}
    outgoing = request(server, token, "PUT", f"{patient}profile_picture/", files=files)
    status, body = send(client, server, outgoing, tmp_path)
    if refused:
        assert (status, body) == (413, PICTURE_TOO_LARGE)
    else:
        assert status == 200, body
        assert body["profile_picture"], body


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(("size", "refused"), sizes(DOCUMENT_MAX))
def test_a_document_upload(server, token, patient, client, size, refused, tmp_path):
    document = pdf_of(size)
    files = {"file": ("scan.pdf", document, "application/pdf")}
    data = {"title": f"{client} {size}", "category": "other"}
    outgoing = request(server, token, "POST", f"{patient}documents/", files=files, data=data)
    status, body = send(client, server, outgoing, tmp_path)
    if refused:
        assert (status, body) == (413, DOCUMENT_TOO_LARGE)
    else:
        assert status == 201, body
        assert (body["size"], body["content_type"]) == (size, "application/pdf")


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(("size", "refused"), sizes(JSON_MAX))
def test_a_json_body(server, token, patient, client, size, refused, tmp_path):
    allergies = f"{client} {size}"
    content = padded_json({"allergies_and_medication": allergies}, size)
    headers = {"Content-Type": "application/json"}
    outgoing = request(server, token, "PATCH", patient, content=content, headers=headers)
    status, body = send(client, server, outgoing, tmp_path)
    if refused:
        assert status == 413, body
        assert body == JSON_TOO_LARGE
    else:
        assert status == 200, body
        assert body["allergies_and_medication"] == allergies


# --- chunked bodies: no Content-Length, the limit counted as the body streams --------------------


def chunked(outgoing: httpx.Request, piece: int = 64 * KIB) -> httpx.Request:
    """The same request with its body sent chunked, in pieces."""
    body = outgoing.read()
    headers = {k: v for k, v in outgoing.headers.items() if k not in {"content-length", "host"}}
    pieces = (body[start : start + piece] for start in range(0, len(body), piece))
    return httpx.Request(outgoing.method, outgoing.url, headers=headers, content=pieces)


@pytest.mark.parametrize(("size", "status"), [(PICTURE_MAX, 200), (PICTURE_MAX + 1, 413)])
def test_a_chunked_picture(server, token, patient, size, status):
    files = {"file": ("picture.png", png_of(size), "image/png")}
    outgoing = chunked(request(server, token, "PUT", f"{patient}profile_picture/", files=files))
    assert "content-length" not in outgoing.headers
    assert send_httpx(outgoing)[0] == status


@pytest.mark.parametrize(
    ("size", "status"),
    [(DOCUMENT_MAX, 201), (DOCUMENT_MAX + 1, 413), (DOCUMENT_MAX + 2 * MULTIPART_OVERHEAD, 413)],
)
def test_a_chunked_document(server, token, patient, size, status):
    files = {"file": ("scan.pdf", pdf_of(size), "application/pdf")}
    data = {"title": "chunked", "category": "other"}
    path = f"{patient}documents/"
    outgoing = chunked(request(server, token, "POST", path, files=files, data=data))
    answer, body = send_httpx(outgoing)
    assert answer == status, body
    if status == 413:
        assert json.loads(body) == DOCUMENT_TOO_LARGE


@pytest.mark.parametrize(("size", "status"), [(JSON_MAX, 200), (JSON_MAX + 1, 413)])
def test_a_chunked_json_body(server, token, patient, size, status):
    content = padded_json({"allergies_and_medication": "chunked"}, size)
    headers = {"Content-Type": "application/json"}
    outgoing = chunked(request(server, token, "PATCH", patient, content=content, headers=headers))
    assert send_httpx(outgoing)[0] == status


# --- Expect: 100-continue, and a 413 before the body is read -----------------------------------


def head_of(outgoing: httpx.Request, **extra: str) -> bytes:
    headers = {**outgoing.headers, **extra}
    lines = [f"{outgoing.method} {outgoing.url.raw_path.decode()} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_expect_100_continue_asks_for_the_body_once_it_fits(server, token, patient):
    files = {"file": ("picture.png", png_of(PICTURE_MAX), "image/png")}
    outgoing = request(server, token, "PUT", f"{patient}profile_picture/", files=files)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head_of(outgoing, expect="100-continue", connection="close"))
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(outgoing.read())
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    [(status, _, body)] = responses(answer)
    assert status == 200, body


def test_a_body_past_the_limit_is_refused_before_it_is_sent(server, token, patient):
    """Content-Length says it: a 413 at once, no 100 Continue, and the connection is still good
    for the next request (the client sends no body after a final answer to Expect)."""
    size = DOCUMENT_MAX + 2 * MULTIPART_OVERHEAD
    files = {"file": ("scan.pdf", b"%PDF-" + b"x" * size, "application/pdf")}
    outgoing = request(
        server, token, "POST", f"{patient}documents/", files=files, data={"title": "t"}
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head_of(outgoing, expect="100-continue", connection="close"))
        started = time.monotonic()
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
        # Closed at once: the server waits for no body the client will not send.
        assert time.monotonic() - started < 2
    [(status, _, body)] = responses(answer)
    assert (status, json.loads(body)) == (
        413,
        DOCUMENT_TOO_LARGE,
    )


@pytest.mark.parametrize("client", ["httpx", "socket"])
def test_a_body_far_past_the_limit_is_a_413_not_a_reset(server, token, patient, client, tmp_path):
    """Answered from its Content-Length while the body still streams in: the rest is read and
    dropped before the connection closes, so the client reads the 413 (a socket that asks for
    the connection to close, too), not a reset."""
    size = DOCUMENT_MAX + 4 * MULTIPART_OVERHEAD
    files = {"file": ("scan.pdf", b"%PDF-" + b"x" * size, "application/pdf")}
    data = {"title": "far", "category": "other"}
    outgoing = request(server, token, "POST", f"{patient}documents/", files=files, data=data)
    status, body = send(client, server, outgoing, tmp_path)
    assert (status, body) == (413, DOCUMENT_TOO_LARGE)


# --- keep-alive, pipelining, heads ---------------------------------------------------------------


def test_requests_pipelined_after_bodies_are_answered_in_order(server, token, patient):
    """An upload, a JSON body and reads, all written at once on one connection."""
    auth = {"Authorization": f"Bearer {token}"}
    files = {"file": ("picture.png", png_of(300 * KIB), "image/png")}
    upload = request(server, token, "PUT", f"{patient}profile_picture/", files=files)
    content = padded_json({"allergies_and_medication": "pipelined"}, 100 * KIB)
    json_headers = {"Content-Type": "application/json"}
    patch = request(server, token, "PATCH", patient, content=content, headers=json_headers)
    read = httpx.Request("GET", server.base_url + patient, headers=auth)
    last = httpx.Request("GET", server.base_url + patient, headers={**auth, "Connection": "close"})
    data = b"".join(head_of(one) + one.read() for one in (upload, patch, read, last))
    answers = responses(exchange(server.port, data))
    assert [status for status, _, _ in answers] == [200, 200, 200, 200]
    assert json.loads(answers[3][2])["allergies_and_medication"] == "pipelined"


def test_a_huge_head_is_still_a_431(server, token, patient):
    big = "a" * (Settings().max_request_header_bytes + 1)
    data = f"GET {patient} HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n".encode()
    [(status, headers, body)] = responses(exchange(server.port, data))
    assert (status, headers["connection"]) == (431, "close")
    assert json.loads(body) == {"detail": "Request header fields too large."}


def test_head_through_the_server_sends_no_body(server, token, patient):
    """HEAD, then GET, on one connection: had the HEAD's answer carried a body, the GET's answer
    would not parse."""
    auth = f"Authorization: Bearer {token}\r\nHost: x\r\n"
    data = (
        f"HEAD {patient} HTTP/1.1\r\n{auth}\r\n"
        f"GET {patient} HTTP/1.1\r\n{auth}\r\n"
        f"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        f"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ).encode()
    answers = responses(exchange(server.port, data), bodiless={0, 2})
    assert [status for status, _, _ in answers] == [200, 200, 200, 200]
    (_, head, _), (_, get, body) = answers[0], answers[1]
    assert head["etag"] == get["etag"]
    assert head["content-length"] == get["content-length"] == str(len(body))
    assert json.loads(answers[3][2]) == {"status": "ok"}


# --- every endpoint that reads a body ------------------------------------------------------------


def body_operations(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (method.upper(), path, next(iter(operation["requestBody"]["content"])))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]


def test_every_body_endpoint_reads_a_body_sent_with_its_head(server, settings, patient):
    """Each endpoint's own answer (whatever its status) to a body of 200 KiB written together
    with its head: never a 431, a 413 or a 500. A token of its own: these requests may sign it
    out."""
    username = f"sweep-{uuid.uuid4().hex[:6]}"
    asyncio.run(create_staff(settings, username=username, password=STAFF_PASSWORD, role="admin"))
    sweeper = httpx.post(
        f"{server.base_url}/api/auth/token/",
        data={"username": username, "password": STAFF_PASSWORD},
        timeout=30,
    ).json()["access_token"]
    document = httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()
    operations = body_operations(document)
    assert len(operations) > 20
    patient_id = patient.strip("/").rsplit("/", 1)[1]
    answered: dict[int, int] = {}
    for method, path, media_type in operations:
        url = path.replace("{patient_id}", patient_id)
        url = re.sub(r"\{\w+\}", "999999", url)
        if media_type == "multipart/form-data":
            files = {"file": ("picture.png", png_of(200 * KIB), "image/png")}
            outgoing = request(server, sweeper, method, url, files=files)
        else:
            content = padded_json({}, 200 * KIB)
            headers = {"Content-Type": media_type}
            outgoing = request(server, sweeper, method, url, content=content, headers=headers)
        status, body = send_socket(server, outgoing)
        assert status not in {413, 431}, (method, path, status, body)
        assert status < 500, (method, path, status, body)
        answered[status] = answered.get(status, 0) + 1
        assert json.loads(body) if body else status == 204, (method, path, status)
    # The endpoints' own answers: mostly 404s (no such object) and 400s (an empty body).
    assert answered.keys() - {200, 201, 204, 400, 403, 404, 409, 412, 415} == set(), answered

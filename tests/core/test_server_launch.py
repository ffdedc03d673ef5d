"""However uvicorn is launched, the app keeps its defences (app.core.server.guard_lifespan): no
X-Forwarded-For believed but from FORWARDED_ALLOW_IPS, and no head read past
MAX_REQUEST_HEADER_BYTES. Each launch an operator might type, as a real process: plain
`uvicorn app.main:app` (uvicorn's defaults believe any loopback peer and read any head),
`python -m app serve`, and the Dockerfile's CMD."""

import asyncio
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.config import PROJECT_ROOT, Settings
from app.core.server import COMMAND
from tests.served import Served, image_command, server_env, serving
from tests.test_deploy import free_port

HUGE_HEADER = 20 * 1024 * 1024
# /metrics admits this network only: believing a forwarded address in it opens it.
METRICS_NETWORK = {"METRICS_ALLOWED_NETWORKS": '["192.0.2.0/24"]'}
FORWARDED = {"X-Forwarded-For": "192.0.2.7", "X-Forwarded-Proto": "https"}
WARNING = "Launched without the image's flags"


def plain_uvicorn(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)]


def app_serve(port: int) -> list[str]:
    return [sys.executable, "-m", "app", "serve", "--port", str(port)]


LAUNCHES: dict[str, Callable[[int], list[str]]] = {
    "uvicorn app.main:app": plain_uvicorn,
    "python -m app serve": app_serve,
    "the image's CMD": image_command,
}


class UnboundedProtocol(asyncio.Protocol):
    """An HTTP protocol the app cannot bound: the start is refused."""

    def __init__(self, **_: Any) -> None:
        super().__init__()


Launch = Callable[..., AbstractContextManager[Served]]


@pytest.fixture
def launch(settings: Settings, tmp_path: Path) -> Launch:
    @contextmanager
    def start(name: str, **env: str) -> Iterator[Served]:
        port = free_port()
        command = LAUNCHES[name](port)
        environment = server_env(settings, **METRICS_NETWORK, **env)
        with serving(command, environment, tmp_path / "server.log", port) as served:
            yield served

    return start


def send_huge_header(port: int) -> tuple[int, bytes]:
    """A 20 MB header, in 64 KiB writes: how much of it was sent before the server closed the
    connection, and what it answered."""
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
            while sent < HUGE_HEADER:
                sock.sendall(b"a" * 65536)
                sent += 65536
            sock.sendall(b"\r\n\r\n")
        except ConnectionError:
            pass
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionError:
            pass
    return sent, answer


@pytest.mark.parametrize("name", list(LAUNCHES))
def test_every_launch_keeps_the_defences(launch, name):
    with launch(name) as served:
        metrics = f"{served.base_url}/metrics"
        assert httpx.get(metrics, timeout=10).status_code == 403
        # From 127.0.0.1, which uvicorn's defaults trust: the peer's address, not the header's.
        assert httpx.get(metrics, headers=FORWARDED, timeout=10).status_code == 403

        before = served.peak_memory()
        sent, answer = send_huge_header(served.port)
        assert sent < HUGE_HEADER / 2, "the server read the header on"
        assert answer.startswith(b"HTTP/1.1 431 ") or answer == b"", answer[:200]
        assert served.peak_memory() - before < 8 * 1024 * 1024
        assert httpx.get(f"{served.base_url}/healthz", timeout=10).status_code == 200
        log = served.log_text()
    if name == "uvicorn app.main:app":
        assert WARNING in log, log
        assert "uvicorn's proxy headers off" in log
        assert COMMAND in log
    else:
        assert WARNING not in log, log


def test_forwarded_headers_are_believed_from_the_proxies_of_the_settings(launch):
    """The other side: with FORWARDED_ALLOW_IPS naming the peer, the app believes it (so the
    test above would see a header believed)."""
    with launch("uvicorn app.main:app", FORWARDED_ALLOW_IPS='["127.0.0.1"]') as served:
        metrics = f"{served.base_url}/metrics"
        assert httpx.get(metrics, headers=FORWARDED, timeout=10).status_code == 200
        assert httpx.get(metrics, timeout=10).status_code == 403


def test_a_protocol_the_app_cannot_bound_refuses_the_start(settings):
    protocol = f"{__name__}:UnboundedProtocol"
    result = subprocess.run(  # noqa: S603 - the service's own command line
        [*plain_uvicorn(free_port()), "--http", protocol],
        cwd=PROJECT_ROOT,
        env=server_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert f"Refusing to serve over {protocol.replace(':', '.')}" in output
    assert COMMAND in output
    assert "Application startup failed" in output

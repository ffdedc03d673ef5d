"""The service as a real process on a socket (the Dockerfile's CMD, or another launch), with the
test database's settings: what ASGITransport never shows, the server's own HTTP, is in play."""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from app.core.config import PROJECT_ROOT, Settings
from tests.test_deploy import as_local, image_cmd

STARTUP_TIMEOUT_SECONDS = 60.0
# Settings an operator's shell might hold that would change what a test sees.
CLEARED = ("FORWARDED_ALLOW_IPS", "MAX_REQUEST_HEADER_BYTES", "METRICS_ALLOWED_NETWORKS")


@dataclass
class Served:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def peak_memory(self) -> int:
        """The process's peak resident memory so far, in bytes (VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM")


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The test database's settings, as an operator would export them."""
    assert settings.database_url is not None
    assert settings.secret_key is not None
    assert settings.phi_encryption_keys is not None
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYTEST") and key not in CLEARED
    }
    env.update(
        DATABASE_URL=make_url(settings.database_url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False),
        SECRET_KEY=settings.secret_key.get_secret_value(),
        PHI_ENCRYPTION_KEYS=settings.phi_encryption_keys.get_secret_value(),
        DATA_DIR=str(settings.data_dir),
        ENVIRONMENT=settings.environment,
        API_RATE_LIMIT=settings.api_rate_limit,
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def image_command(port: int) -> list[str]:
    """The Dockerfile's CMD, on this machine's Python and a free port of 127.0.0.1."""
    return as_local(image_cmd(), port)


@contextmanager
def serving(
    command: list[str], env: dict[str, str], log: Path, port: int, cwd: Path = PROJECT_ROOT
) -> Iterator[Served]:
    """`command` running until /readyz answers 200; stopped as compose stops it (SIGTERM)."""
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - the repo's own commands
            command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    served = Served(port, process, log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            assert process.poll() is None, f"the server exited:\n{served.log_text()}"
            assert time.monotonic() < deadline, f"/readyz never answered:\n{served.log_text()}"
            try:
                if httpx.get(f"{served.base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def exchange(port: int, data: bytes, *, timeout: float = 30) -> bytes:
    """`data` written at once (heads and bodies together), then every byte answered until the
    server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def responses(
    answer: bytes, *, bodiless: Collection[int] = ()
) -> list[tuple[int, dict[str, str], bytes]]:
    """The HTTP/1.1 responses in `answer`, in order: status, headers, body (by Content-Length,
    or chunked). Those at the indexes `bodiless` answer a HEAD: no body, whatever the headers."""
    found: list[tuple[int, dict[str, str], bytes]] = []
    rest = answer
    while rest:
        head, _, rest = rest.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines)
        }
        if len(found) in bodiless:
            body = b""
        elif "content-length" in headers:
            length = int(headers["content-length"])
            body, rest = rest[:length], rest[length:]
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line, 16)
                body, rest = body + rest[:size], rest[size + 2 :]
                if size == 0:
                    break
        else:
            body, rest = rest, b""
        found.append((int(status_line.split()[1]), headers, body))
    return found

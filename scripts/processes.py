"""What the scripts that start the service in processes of its own share."""

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def run_command(args: list[str], env: dict[str, str], cwd: Path) -> None:
    """`python -m app …` (migrate, createsuperuser), failing with the end of its stderr."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "app", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"python -m app {args[0]} failed:\n{done.stderr[-2000:]}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM to the script tears everything down, as Ctrl-C does."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_server(server: subprocess.Popen[bytes], grace: float = 20) -> None:
    """SIGTERM, `grace` seconds to finish what is in flight, then SIGKILL."""
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(grace)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@contextlib.contextmanager
def served(
    env: dict[str, str],
    cwd: Path,
    port: int,
    log: Path,
    *,
    workers: int = 1,
    ready: str = "/readyz",
) -> Iterator[str]:
    """uvicorn as the Docker image runs it (the migrations were applied beforehand), its output
    appended to `log`; its base URL once `ready` answers 200, and stopped at the end."""
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603
            [
                *(sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1"),
                *("--port", str(port), "--workers", str(workers), "--loop", "uvloop"),
                *("--http", "app.core.server:BoundedHttpToolsProtocol", "--no-proxy-headers"),
                *("--no-access-log", "--log-level", "warning"),
            ],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start; see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}{ready}", timeout=2).status_code == 200:
                    break
            time.sleep(0.3)
        yield base
    finally:
        stop_server(process)

"""What the scripts that start the service in processes of its own share."""

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


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

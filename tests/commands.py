"""`python -m app …` run as an operator runs it: a separate process on the test database.

run_cli forks each run from a process that has imported the app once (tests/zygote.py): the run
has its own process, environment, working directory and standard streams, and runs
app/__main__.py as `python -m app` does, without paying ~2 s of CPU for the interpreter's start
and the imports. run_python_m_app runs the real command line, for the tests of the start itself.
"""

import atexit
import json
import select
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from app.core.config import PROJECT_ROOT

TIMEOUT = 60


class _Zygote:
    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        # Its own errors (a failed import), not a test's: open while the process lives.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115

    def started(self) -> subprocess.Popen[str]:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.zygote"],
                cwd=PROJECT_ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.log,
                text=True,
            )
            atexit.register(self.stop)
        return self.process

    def stop(self) -> None:
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()  # it ends at the end of its input
            self.process.wait(timeout=TIMEOUT)

    def run(
        self, env: dict[str, str], args: tuple[str, ...], cwd: Path, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        process = self.started()
        assert process.stdin is not None
        assert process.stdout is not None
        with tempfile.TemporaryDirectory() as folder:
            stdout, stderr = Path(folder) / "stdout", Path(folder) / "stderr"
            request = {
                "args": args,
                "env": env,
                "cwd": str(cwd),
                "stdout": str(stdout),
                "stderr": str(stderr),
                "timeout": timeout,
            }
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            # The zygote's own start (its imports) comes on top of the run's time.
            ready, _, _ = select.select([process.stdout], [], [], timeout + 60)
            line = process.stdout.readline() if ready else ""
            if not line:
                self.log.seek(0)
                pytest.fail(f"tests/zygote.py did not answer:\n{self.log.read().decode()}")
            answer = json.loads(line)
            command = ["python", "-m", "app", *args]
            if answer["returncode"] is None:
                raise subprocess.TimeoutExpired(command, timeout)
            return subprocess.CompletedProcess(
                command, answer["returncode"], stdout.read_text(), stderr.read_text()
            )


_zygote = _Zygote()


def run_cli(
    env: dict[str, str], *args: str, cwd: Path = PROJECT_ROOT, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return _zygote.run(env, args, cwd, timeout)


def run_python_m_app(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the repo's own command line
        [sys.executable, "-m", "app", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )

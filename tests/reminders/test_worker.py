"""`python -m app worker` as a real process: killed mid-batch, stopped by SIGTERM.

Delivery is at least once, deduplicated by Message-ID: a worker killed after the mail server
took a reminder but before it marked it sent leaves it pending, and the next run sends it
again with the same Message-ID (made from the dedupe key). Since a worker sends one reminder
at a time, at most that one reminder arrives twice per kill; nothing is ever lost.
"""

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta

from app.core.config import PROJECT_ROOT
from app.reminders.service import message_id
from tests.reminders.conftest import Clinic

SENDER = "TherapyConnect <no-reply@clinic.example>"


def _env(cli_env: dict[str, str], port: int) -> dict[str, str]:
    return {
        **cli_env,
        "MAIL_SMTP_HOST": "127.0.0.1",
        "MAIL_SMTP_PORT": str(port),
        "MAIL_SMTP_TLS": "none",
        "MAIL_FROM": SENDER,
        "WORKER_POLL_SECONDS": "0.2",
        "LOG_FORMAT": "console",
    }


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - the repo's own command line
        [sys.executable, "-m", "app", "worker", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def _wait_for(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30.0
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _keys(clinic: Clinic) -> set[str]:
    async with clinic.database.connection() as connection:
        rows = await connection.fetch("SELECT dedupe_key FROM appointment_reminders")
    return {message_id(row["dedupe_key"], SENDER) for row in rows}


async def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    clinic: Clinic, inbox, cli_env
):
    sink, port = inbox
    sink.delay = 0.15  # a slow mail server: the kill finds the worker in the middle
    count = 30
    for offset in range(count):
        await clinic.due_reminder(timedelta(days=1, hours=offset))
    expected = await _keys(clinic)
    env = _env(cli_env, port)

    worker = _start(env, "--batch", "50")
    try:
        await _wait_for(lambda: len(sink.messages) >= 8)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    delivered_before = len(sink.messages)
    assert delivered_before < count, "the worker was killed mid-batch"
    async with clinic.database.connection() as connection:
        pending = await connection.fetchval(
            "SELECT count(*) FROM appointment_reminders WHERE state = 'pending'"
        )
        leased = await connection.fetchval(
            "SELECT count(*) FROM appointment_reminders"
            " WHERE state = 'pending' AND next_attempt_at > now()"
        )
    assert pending == leased > 0  # the dead worker's batch waits for its lease to end

    await clinic.fast_forward()  # the lease runs out
    finished = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app", "worker", "--once", "--batch", "50"],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    ids = [str(message["Message-ID"]) for message in sink.messages]
    assert set(ids) == expected  # nothing lost
    # Nothing twice, by Message-ID; the one in hand at the kill may have reached the server
    # without its mark: it arrives again, as the same message.
    assert len(ids) - len(set(ids)) <= 1
    async with clinic.database.connection() as connection:
        states = await connection.fetch(
            "SELECT state, count(*) FROM appointment_reminders GROUP BY state"
        )
    assert {row["state"]: row["count"] for row in states} == {"sent": count}
    for line in finished.stderr.splitlines():
        assert "@" not in line


async def test_sigterm_lets_the_worker_finish_the_reminder_in_hand(clinic: Clinic, inbox, cli_env):
    sink, port = inbox
    sink.delay = 0.3
    for offset in range(10):
        await clinic.due_reminder(timedelta(days=1, hours=offset))
    worker = _start(_env(cli_env, port), "--batch", "50")
    try:
        await _wait_for(lambda: len(sink.messages) >= 2)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=15)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, output
    assert "reminder worker stopped" in output
    async with clinic.database.connection() as connection:
        rows = await connection.fetch(
            "SELECT state, attempts, next_attempt_at <= now() AS due"
            " FROM appointment_reminders ORDER BY id"
        )
    sent = [row for row in rows if row["state"] == "sent"]
    rest = [row for row in rows if row["state"] != "sent"]
    assert len(sent) == len(sink.messages)  # the one in hand was finished and marked
    assert rest
    assert all((r["state"], r["attempts"], r["due"]) == ("pending", 0, True) for r in rest)

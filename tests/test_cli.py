"""`python -m app …` run as an operator runs it: a separate process on the test database
(tests/commands.py)."""

import json
import os
import select
import subprocess
import sys
import time
import uuid
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app import __version__
from app.__main__ import main
from app.core.config import PROJECT_ROOT
from tests.commands import TIMEOUT, run_cli, run_python_m_app
from tests.mail.smtp import mail_text

PASSWORD = "operator-password-1"


def unique_username(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


async def staff_row(engine: AsyncEngine, username: str) -> dict[str, Any] | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT role, is_active, password_hash FROM staff WHERE username = :u"),
                {"u": username},
            )
        ).one_or_none()
    return None if row is None else dict(row._mapping)


async def staff_count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        count = await connection.scalar(text("SELECT count(*) FROM staff"))
    assert isinstance(count, int)
    return count


async def assert_can_log_in(anonymous: Any, username: str, password: str) -> None:
    response = await anonymous.post(
        "/api/auth/token/", data={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"


COMMANDS = (
    "serve",
    "migrate",
    "createsuperuser",
    "createstaff",
    "changepassword",
    "deactivatestaff",
    "activatestaff",
    "rotate-keys",
    "identity-clashes",
    "seed",
    "audit-partitions",
    "audit-archive",
    "worker",
    "openapi",
)


def test_help_lists_every_command_with_a_one_line_description(cli_env):
    result = run_python_m_app(cli_env, "--help")  # the real start, as the other tests' are not
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for command in COMMANDS:
        line = next((line for line in lines if line.split()[:1] == [command]), None)
        assert line is not None, f"{command} is not listed:\n{result.stdout}"
        description = line.strip().removeprefix(command).strip()
        assert description.endswith("."), line  # on the command's own line, and complete


@pytest.mark.parametrize("args", [("--version",), ("createsuperuser", "--password", PASSWORD)])
def test_a_forked_run_answers_as_the_command_line_does(cli_env, args):
    forked, started = run_cli(cli_env, *args), run_python_m_app(cli_env, *args)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        started.returncode,
        started.stdout,
        started.stderr,
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_its_own_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m app {command}")


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"python -m app {__version__}"


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_openapi_prints_the_served_document_without_a_database(cli_env, app):
    # Nothing listens on port 9: the document must not need the database.
    env = {**cli_env, "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/nothing"}
    result = run_cli(env, "openapi")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == app.openapi()


def test_openapi_writes_to_a_file(cli_env, tmp_path):
    target = tmp_path / "spec" / "openapi.json"
    result = run_cli(cli_env, "openapi", "--output", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    document = json.loads(target.read_text())
    assert document["info"]["version"] == __version__
    assert "/api/patients/" in document["paths"]


@pytest.mark.parametrize(
    ("command", "extra", "role"),
    [
        ("createsuperuser", [], "admin"),
        ("createstaff", ["--role", "therapist"], "therapist"),
        ("createstaff", ["--role", "admin"], "admin"),
        ("createstaff", [], "therapist"),
    ],
)
async def test_create_staff_account(cli_env, engine, anonymous, command, extra, role):
    username = unique_username(role)
    result = run_cli(cli_env, command, "--username", username, "--password", PASSWORD, *extra)
    assert result.returncode == 0, result.stderr
    assert username in result.stdout
    assert PASSWORD not in result.stdout + result.stderr

    row = await staff_row(engine, username)
    assert row is not None
    assert row["role"] == role
    assert row["is_active"] is True
    assert row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in row["password_hash"]
    await assert_can_log_in(anonymous, username, PASSWORD)


async def test_a_staff_member_can_use_the_api_after_creation(cli_env, anonymous):
    username = unique_username("therapist")
    result = run_python_m_app(
        cli_env,
        "createstaff",
        "--username",
        username,
        "--password",
        PASSWORD,
        "--role",
        "therapist",
    )
    assert result.returncode == 0, result.stderr
    token = (
        await anonymous.post("/api/auth/token/", data={"username": username, "password": PASSWORD})
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    listed = await anonymous.get("/api/patients/", headers=headers)
    assert listed.status_code == 200
    # A therapist, not an admin.
    refused = await anonymous.delete("/api/patients/p_aaaaaa/", headers=headers)
    assert refused.status_code == 403


async def test_duplicate_username_is_a_one_line_error(cli_env, engine, anonymous):
    username = unique_username("admin")
    first = run_cli(cli_env, "createsuperuser", "--username", username, "--password", PASSWORD)
    assert first.returncode == 0, first.stderr

    again = run_cli(
        cli_env, "createstaff", "--username", username, "--password", "another-password-2"
    )
    assert again.returncode != 0
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1, again.stderr
    assert username in lines[0]
    assert "already exists" in lines[0]
    assert "Traceback" not in again.stderr
    assert "another-password-2" not in again.stderr

    row = await staff_row(engine, username)
    assert row is not None
    assert row["role"] == "admin"
    assert await staff_count(engine) == 1
    # The first account's password still works.
    await assert_can_log_in(anonymous, username, PASSWORD)


async def test_invalid_role_is_an_argparse_error(cli_env, engine, anonymous):
    username = unique_username("x")
    result = run_cli(
        cli_env, "createstaff", "--username", username, "--password", PASSWORD, "--role", "patient"
    )
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
    assert "'patient'" in result.stderr
    assert await staff_row(engine, username) is None


async def test_missing_username_is_an_argparse_error(cli_env, engine, anonymous):
    result = run_cli(cli_env, "createsuperuser", "--password", PASSWORD)
    assert result.returncode == 2
    assert "--username" in result.stderr
    assert await staff_count(engine) == 0


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("seven77", "password: Ensure this field has at least 8 characters."),
        ("x" * 65, "password: Ensure this field has no more than 64 characters."),
    ],
)
async def test_a_password_outside_the_rules_is_refused(
    cli_env, engine, anonymous, password, message
):
    username = unique_username("admin")
    result = run_cli(cli_env, "createsuperuser", "--username", username, "--password", password)
    assert result.returncode != 0
    assert message in result.stderr
    assert password not in result.stderr
    assert "Traceback" not in result.stderr
    assert await staff_row(engine, username) is None


async def test_an_invalid_username_is_refused(cli_env, engine, anonymous):
    result = run_cli(cli_env, "createsuperuser", "--username", "has space", "--password", PASSWORD)
    assert result.returncode != 0
    assert "username" in result.stderr
    assert "Traceback" not in result.stderr
    assert await staff_count(engine) == 0


async def test_without_password_and_without_a_terminal_it_refuses(cli_env, engine, anonymous):
    username = unique_username("admin")
    result = run_cli(cli_env, "createsuperuser", "--username", username)
    assert result.returncode != 0
    assert "--password is required when not run in a terminal" in result.stderr
    assert await staff_row(engine, username) is None


class Terminal:
    """A child process whose stdin, stdout and stderr are one pseudo-terminal."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.master, slave = os.openpty()
        self.process = subprocess.Popen(  # noqa: S603 - the repo's own command line
            [sys.executable, "-m", "app", *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.transcript = ""

    def expect(self, wanted: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while wanted not in self.transcript:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"timed out waiting for {wanted!r}: {self.transcript!r}"
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                assert chunk, f"the process ended before {wanted!r}: {self.transcript!r}"
                self.transcript += chunk.decode(errors="replace")
        # What follows the prompt is read by the next expect().
        cut = self.transcript.index(wanted) + len(wanted)
        self.transcript = self.transcript[cut:]

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def finish(self) -> tuple[int, str]:
        rest = self.transcript
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                rest += chunk.decode(errors="replace")
            elif self.process.poll() is not None:
                break
        code = self.process.wait(timeout=TIMEOUT)
        os.close(self.master)
        return code, rest

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def test_without_password_in_a_terminal_it_prompts_twice(cli_env, engine, anonymous):
    username = unique_username("admin")
    terminal = Terminal(cli_env, "createsuperuser", "--username", username)
    try:
        terminal.expect("Password: ")
        terminal.type(PASSWORD)
        terminal.expect("Password (again): ")
        terminal.type(PASSWORD)
        code, output = terminal.finish()
    finally:
        terminal.kill()
    assert code == 0, output
    assert f"Created admin {username!r}." in output
    assert PASSWORD not in output  # typed with echo off

    row = await staff_row(engine, username)
    assert row is not None
    assert row["role"] == "admin"
    await assert_can_log_in(anonymous, username, PASSWORD)


async def test_mismatching_passwords_are_asked_again(cli_env, engine, anonymous):
    username = unique_username("therapist")
    terminal = Terminal(cli_env, "createstaff", "--username", username, "--role", "therapist")
    try:
        terminal.expect("Password: ")
        terminal.type("first-attempt-1")
        terminal.expect("Password (again): ")
        terminal.type("different-attempt-2")
        terminal.expect("Error: your passwords didn't match.")
        terminal.expect("Password: ")
        terminal.type(PASSWORD)
        terminal.expect("Password (again): ")
        terminal.type(PASSWORD)
        code, output = terminal.finish()
    finally:
        terminal.kill()
    assert code == 0, output
    assert f"Created therapist {username!r}." in output

    row = await staff_row(engine, username)
    assert row is not None
    assert row["role"] == "therapist"
    await assert_can_log_in(anonymous, username, PASSWORD)
    response = await anonymous.post(
        "/api/auth/token/", data={"username": username, "password": "first-attempt-1"}
    )
    assert response.status_code == 401


async def test_a_short_password_typed_at_the_prompt_is_refused(cli_env, engine, anonymous):
    username = unique_username("admin")
    terminal = Terminal(cli_env, "createsuperuser", "--username", username)
    try:
        terminal.expect("Password: ")
        terminal.type("seven77")
        terminal.expect("Password (again): ")
        terminal.type("seven77")
        code, output = terminal.finish()
    finally:
        terminal.kill()
    assert code != 0
    assert "password: Ensure this field has at least 8 characters." in output
    assert await staff_row(engine, username) is None


def _therapist(cli_env: dict[str, str]) -> str:
    """A therapist made with createstaff: their username (their password is PASSWORD)."""
    username = unique_username("therapist")
    created = run_cli(cli_env, "createstaff", "--username", username, "--password", PASSWORD)
    assert created.returncode == 0, created.stderr
    return username


async def _therapist_signed_in(
    cli_env: dict[str, str], anonymous: Any
) -> tuple[str, dict[str, str]]:
    """A therapist made with createstaff, logged in: their username and Authorization header."""
    username = _therapist(cli_env)
    login = await anonymous.post(
        "/api/auth/token/", data={"username": username, "password": PASSWORD}
    )
    return username, {"Authorization": f"Bearer {login.json()['access_token']}"}


async def _audited(engine: AsyncEngine, action: str) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT actor, actor_kind, status_code FROM audit_events WHERE action = :a"),
            {"a": action},
        )
    return [dict(row._mapping) for row in rows]


async def test_createstaff_takes_an_email_and_is_audited(cli_env, engine, anonymous):
    username = unique_username("therapist")
    email = f"{username}@clinic.example"
    result = run_cli(
        cli_env, "createstaff", "--username", username, "--password", PASSWORD, "--email", email
    )
    assert result.returncode == 0, result.stderr
    await assert_can_log_in(anonymous, email, PASSWORD)
    events = await _audited(engine, "cli_create_staff")
    assert [event["actor_kind"] for event in events] == ["cli"]
    assert events[0]["actor"].startswith("cli")


async def test_a_password_like_the_username_is_refused_at_creation(cli_env, engine, anonymous):
    result = run_cli(
        cli_env, "createstaff", "--username", "bartholomew", "--password", "bartholomew-1"
    )
    assert result.returncode != 0
    assert "too similar to the username" in result.stderr
    assert "bartholomew-1" not in result.stderr
    assert await staff_row(engine, "bartholomew") is None


async def test_changepassword_sets_it_and_ends_every_session(cli_env, engine, anonymous):
    username, headers = await _therapist_signed_in(cli_env, anonymous)
    assert (await anonymous.get("/api/patients/", headers=headers)).status_code == 200

    result = run_cli(
        cli_env, "changepassword", "--username", username, "--password", "Lantern-Fjord-71"
    )
    assert result.returncode == 0, result.stderr
    assert "Lantern-Fjord-71" not in result.stdout + result.stderr
    assert (await anonymous.get("/api/patients/", headers=headers)).status_code == 401
    await assert_can_log_in(anonymous, username, "Lantern-Fjord-71")
    assert len(await _audited(engine, "cli_reset_staff_password")) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--username", "nobody-here", "--password", "Lantern-Fjord-71"], "No staff member"),
        (["--username", "{username}", "--password", "password1"], "too common"),
        (["--username", "{username}", "--password", "short"], "at least 8 characters"),
    ],
)
async def test_changepassword_refuses_with_one_line(cli_env, engine, anonymous, args, message):
    username = _therapist(cli_env)
    result = run_cli(cli_env, "changepassword", *[arg.format(username=username) for arg in args])
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    await assert_can_log_in(anonymous, username, PASSWORD)


async def test_deactivate_ends_the_sessions_and_activate_lets_them_back(cli_env, engine, anonymous):
    username, headers = await _therapist_signed_in(cli_env, anonymous)

    result = run_cli(cli_env, "deactivatestaff", "--username", username)
    assert result.returncode == 0, result.stderr
    assert (await anonymous.get("/api/patients/", headers=headers)).status_code == 401
    refused = await anonymous.post(
        "/api/auth/token/", data={"username": username, "password": PASSWORD}
    )
    assert refused.status_code == 401

    result = run_cli(cli_env, "activatestaff", "--username", username)
    assert result.returncode == 0, result.stderr
    await assert_can_log_in(anonymous, username, PASSWORD)
    # The old session stays over: reactivating gives nobody's token back.
    assert (await anonymous.get("/api/patients/", headers=headers)).status_code == 401
    assert len(await _audited(engine, "cli_deactivate_staff")) == 1
    assert len(await _audited(engine, "cli_activate_staff")) == 1

    missing = run_cli(cli_env, "deactivatestaff", "--username", "nobody-here")
    assert missing.returncode != 0
    assert "No staff member with username 'nobody-here'." in missing.stderr


async def test_changepassword_tells_the_owner_by_mail(cli_env, anonymous):
    username = unique_username("therapist")
    created = run_cli(
        cli_env,
        "createstaff",
        "--username",
        username,
        "--password",
        PASSWORD,
        "--email",
        f"{username}@clinic.example",
    )
    assert created.returncode == 0, created.stderr
    outbox = Path(cli_env["DATA_DIR"]) / "outbox"
    assert list(outbox.glob("*.eml")) == []  # creating the account sent no mail
    result = run_cli(
        cli_env, "changepassword", "--username", username, "--password", "Lantern-Fjord-71"
    )
    assert result.returncode == 0, result.stderr
    [mail_file] = outbox.glob("*.eml")
    mail = message_from_bytes(mail_file.read_bytes(), policy=policy.default)
    assert mail["To"] == f"{username}@clinic.example"
    assert mail["Subject"] == "Your TherapyConnect password was changed"
    assert "by an operator on the service's command line" in mail_text(mail)
    assert "Lantern-Fjord-71" not in mail.as_string()

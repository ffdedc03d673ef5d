"""Schemathesis against the served /openapi.json: no server error, nothing undocumented.

The service runs under uvicorn on a database of its own, migrated and given an admin by the
command line, as an operator would; schemathesis' CLI then sends generated requests as that
admin (tests/core/schemathesis_hooks.py logs in). CI runs a bounded number of examples per
operation; for a longer run:

    make schemathesis EXAMPLES=500            # SEED=… to replay or vary a run

SCHEMATHESIS_EXAMPLES and SCHEMATHESIS_SEED set the same for `make test`. The settings that
are not per run are in schemathesis.toml.
"""

import base64
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.core.config import PROJECT_ROOT, Settings
from tests.conftest import create_database, drop_database

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "50"))  # ~1.5 min on two cores
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20261126"))
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
ADMIN_USERNAME = "schemathesis-admin"
ADMIN_PASSWORD = secrets.token_urlsafe(16)
UVICORN_ARGS = ("--log-level", "warning")

# What every response must satisfy; negative_data_rejection with the contract's trimming and
# query reading (tests/core/schemathesis_hooks.py). positive_data_acceptance is left out: a
# request the schema allows may still be a 400 by the contract (a phone number another patient
# has, a wallet change past the balance, a birth date in the future), which no schema can state.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
)


@dataclass(frozen=True)
class LiveApi:
    url: str
    token: str
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _command(*args: str, env: dict[str, str], cwd: Path) -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "app", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"python -m app {args[0]} failed:\n{result.stderr}"


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"the server did not become ready:\n{log.read_text()}")


@pytest.fixture(scope="module")
def live_api(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """The service under uvicorn, on a fresh database, with an admin; not throttled."""
    folder = tmp_path_factory.mktemp("schemathesis")
    database_url = create_database(server_url, "therapy_schemathesis")
    port = _free_port()
    # The service's own settings only: none of the caller's (REDIS_URL, CORS_ORIGINS, …) leak in.
    settings = {name.upper() for name in Settings.model_fields}
    env = {name: value for name, value in os.environ.items() if name not in settings}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])),
            "ENVIRONMENT": "test",
            "DATABASE_URL": make_url(database_url).render_as_string(hide_password=False),
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PHI_ENCRYPTION_KEYS": "fuzz1:" + base64.b64encode(os.urandom(32)).decode(),
            "DATA_DIR": str(folder / "data"),
            "MEDIA_DIR": str(folder / "media"),
            "API_RATE_LIMIT": "1000000/minute",
            "LOGIN_RATE_LIMIT": "1000000/minute",
            # Nor slowed: the login's delay (per account, per address) would grow past the
            # client's read timeout as examples of the login (now with a device token) fail.
            "LOGIN_ADDRESS_RATE_LIMIT": "1000000/minute",
            "LOGIN_ACCOUNT_RATE_LIMIT": "1000000/minute",
        }
    )
    # The folder as working directory: a developer's .env does not apply.
    _command("migrate", env=env, cwd=folder)
    admin = ("--username", ADMIN_USERNAME, "--password", ADMIN_PASSWORD)
    _command("createsuperuser", *admin, env=env, cwd=folder)
    url = f"http://127.0.0.1:{port}"
    log = folder / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), *UVICORN_ARGS],
            cwd=folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(url, process, log)
        response = httpx.post(
            f"{url}/api/auth/token/",
            data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        yield LiveApi(url=url, token=response.json()["access_token"], log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        drop_database(server_url, database_url)


def test_schemathesis_finds_nothing(live_api: LiveApi, tmp_path: Path) -> None:
    # Generated ids are unknown (404); schemathesis reuses the ids of the patients its own POSTs
    # created, so the other operations are tested on real patients too.
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(PROJECT_ROOT / "schemathesis.toml"),
        "--no-color",
        "run",
        f"{live_api.url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
    ]
    # The hooks log in as the admin (and, for each logout, into a session of its own).
    env = {
        **os.environ,
        "THERAPY_FUZZ_USERNAME": ADMIN_USERNAME,
        "THERAPY_FUZZ_PASSWORD": ADMIN_PASSWORD,
    }
    result = subprocess.run(  # noqa: S603 - the schemathesis CLI of this environment
        command,
        cwd=PROJECT_ROOT,  # schemathesis.toml names its hooks file relative to it
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600 + 5 * EXAMPLES,  # about 1 s per example on two cores; a hang fails the test
    )
    report = result.stdout + result.stderr
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "schemathesis.txt").write_text(report)
    if result.returncode != 0:
        server_log = live_api.log.read_text()
        pytest.fail(
            f"schemathesis (seed {SEED}, {EXAMPLES} examples) failed:\n{report}\n"
            f"server log:\n{server_log[-20_000:]}",
            pytrace=False,
        )

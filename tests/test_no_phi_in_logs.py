"""The service never logs PHI: not in its own records, not in a library's, not in the access log.

Requests carry known values (an SSN, phone numbers, an email, names, medical text, passwords,
bearer tokens, search queries), succeed and fail; then no log line may contain any of them.
"""

import asyncio
import json
import logging
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from app.auth.commands import create_staff
from app.core.config import PROJECT_ROOT, Settings
from app.core.dependencies import DatabaseDep
from app.main import create_app
from tests.factories import patient_payload

SSN = "078-05-1120"
INVALID_SSN = "078-051-120"
PHONE = "+14155557314"
PHONE_DIGITS = "4155557314"
OTHER_PHONE = "+14155557399"
EMAIL = "zephyrine.quistgaard@example.org"
INVALID_EMAIL = "zephyrine.q@@quistgaard"
FIRST_NAME = "Zephyrine"
LAST_NAME = "Quistgaard"
NEW_LAST_NAME = "Vandersloot"
DATE_OF_BIRTH = "1987-03-14"
MEDICAL = "Lamotrigine 200mg daily; anaphylaxis to sulfamethoxazole"
NEW_MEDICAL = "Sertraline 50mg started after panic attacks"
ADDRESS = "742 Evergreen Terrace, Springfield"
NOTE = "Recurring nightmares about the flood"
SESSION_NOTES = "Disclosed childhood trauma in session"
PASSWORD = "Quokka-Saffron-42"
WRONG_PASSWORD = "Quokka-Turmeric-17"
STAFF_PASSWORD = "Staff-Cardamom-93"
SEARCH_NAME = "zephyrine quistgaard"
SEARCH_PHONE = "(415) 555-7314"
SEARCH_EMAIL = "quistgaard@example"
SEARCH = {"name": SEARCH_NAME, "phone": SEARCH_PHONE, "email": SEARCH_EMAIL}

PHI = (
    SSN,
    INVALID_SSN,
    PHONE,
    PHONE_DIGITS,
    OTHER_PHONE,
    EMAIL,
    INVALID_EMAIL,
    FIRST_NAME,
    LAST_NAME,
    NEW_LAST_NAME,
    DATE_OF_BIRTH,
    MEDICAL,
    NEW_MEDICAL,
    ADDRESS,
    NOTE,
    SESSION_NOTES,
    PASSWORD,
    WRONG_PASSWORD,
    STAFF_PASSWORD,
    SEARCH_NAME,
    SEARCH_PHONE,
    SEARCH_EMAIL,
)


def _spellings(value: str) -> set[str]:
    """The value as a log line could carry it: as is, or URL-encoded in a path or a query."""
    return {value, quote(value), quote(value, safe=""), quote_plus(value)}


def leaked(log: str, secrets: Iterable[str]) -> list[str]:
    lowered = log.lower()
    return sorted(
        {value for value in secrets for form in _spellings(value) if form.lower() in lowered}
    )


def bearer(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def exercise(http: httpx.AsyncClient, staff_username: str) -> list[str]:
    """Requests that succeed and fail, all carrying PHI; returns the bearer tokens they used."""
    login = "/api/auth/token/"
    staff_token = bearer(
        await http.post(login, data={"username": staff_username, "password": STAFF_PASSWORD})
    )
    staff = {"Authorization": f"Bearer {staff_token}"}

    payload = patient_payload(
        password=PASSWORD,
        first_name=FIRST_NAME,
        last_name=LAST_NAME,
        phone_no=PHONE,
        allergies_and_medication=MEDICAL,
        date_of_birth=DATE_OF_BIRTH,
        ssn=SSN,
        email=EMAIL,
        address=ADDRESS,
        added_note=NOTE,
    )
    created = await http.post("/api/patients/", json=payload, headers=staff)
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]
    detail = f"/api/patients/{patient_id}/"

    duplicate = await http.post("/api/patients/", json=payload, headers=staff)
    assert duplicate.status_code == 400, duplicate.text
    assert "phone_no" in duplicate.json()
    invalid = dict(payload, phone_no=OTHER_PHONE, ssn=INVALID_SSN, email=INVALID_EMAIL)
    response = await http.post("/api/patients/", json=invalid, headers=staff)
    assert response.status_code == 400, response.text
    assert {"ssn", "email"} <= set(response.json())

    response = await http.get("/api/patients/", params=SEARCH, headers=staff)
    assert response.status_code == 200, response.text
    assert response.json()["count"] == 1
    response = await http.get("/api/patients/", params={**SEARCH, "page": 9}, headers=staff)
    assert response.status_code == 404, response.text
    response = await http.get("/api/patients/p_zz9zz9/", headers=staff)
    assert response.status_code == 404, response.text

    changes = {"last_name": NEW_LAST_NAME, "allergies_and_medication": NEW_MEDICAL}
    response = await http.patch(detail, json=changes, headers=staff)
    assert response.status_code == 200, response.text
    response = await http.patch(detail, json={"phone_no": "not a phone " + PHONE}, headers=staff)
    assert response.status_code == 400, response.text
    session = {"date": "2024-05-01T14:30:00Z", "notes": SESSION_NOTES, "therapist": "Dr. Rivera"}
    response = await http.post(f"{detail}add_session/", json=session, headers=staff)
    assert response.status_code == 200, response.text

    response = await http.post(login, data={"username": PHONE, "password": WRONG_PASSWORD})
    assert response.status_code == 401, response.text
    patient_token = bearer(await http.post(login, data={"username": PHONE, "password": PASSWORD}))
    patient = {"Authorization": f"Bearer {patient_token}"}
    response = await http.get(detail, headers=patient)
    assert response.status_code == 200, response.text
    response = await http.get("/api/patients/", params=SEARCH, headers=patient)
    assert response.status_code == 403, response.text
    response = await http.get(detail, headers={"Authorization": f"Bearer {staff_token}x"})
    assert response.status_code == 401, response.text
    return [staff_token, patient_token]


# In process: every record at DEBUG and above, as the root logger (and caplog) sees it.


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog at DEBUG on the root logger, and on the loggers that do not propagate to it."""
    caplog.set_level(logging.DEBUG)
    isolated = [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in isolated:
        logger.addHandler(caplog.handler)
    yield caplog
    for logger in isolated:
        logger.removeHandler(caplog.handler)


# The tests' own HTTP client logs the URLs it requests; the service does not use it.
CLIENT_LOGGERS = ("httpx", "httpcore")


def formatted(records: Iterable[logging.LogRecord]) -> str:
    """Each record as a handler would write it: the message, any traceback and stack."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = []
    for record in records:
        if record.name.partition(".")[0] in CLIENT_LOGGERS:
            continue
        lines.append(formatter.format(record))
        lines.append(record.getMessage())
        if record.exc_text:
            lines.append(record.exc_text)
    return "\n".join(lines)


def assert_no_phi(log: str, secrets: Iterable[str]) -> None:
    found = leaked(log, secrets)
    context = [line for line in log.splitlines() if leaked(line, found)][:10]
    assert not found, f"PHI in the logs: {found}\n" + "\n".join(context)


async def test_no_phi_in_log_records(captured, app, settings, anonymous):
    staff_username = f"admin-{uuid.uuid4().hex[:6]}"
    await create_staff(settings, username=staff_username, password=STAFF_PASSWORD, role="admin")
    tokens = await exercise(anonymous, staff_username)
    assert_no_phi(formatted(captured.records), [*PHI, *tokens])


@pytest.fixture
async def failing_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The service with two more routes that fail with PHI in the exception."""
    application: FastAPI = create_app(settings)

    @application.post("/boom/{ssn}")
    async def boom(ssn: str) -> None:
        raise RuntimeError(f"patient {ssn} with phone {PHONE} and {MEDICAL}")

    @application.get("/bad-sql")
    async def bad_sql(database: DatabaseDep) -> None:
        # asyncpg quotes the argument it could not encode in its message.
        async with database.connection() as connection:
            await connection.fetch("SELECT CAST($1::text AS integer)", SSN)

    async with application.router.lifespan_context(application):
        yield application


async def test_no_phi_in_log_records_of_server_errors(captured, failing_app):
    transport = httpx.ASGITransport(app=failing_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.post(f"/boom/{SSN}", json={"ssn": SSN, "notes": SESSION_NOTES})
        assert response.status_code == 500
        response = await http.get("/bad-sql")
        assert response.status_code == 500
    assert response.json() == {"detail": "A server error occurred."}
    log = formatted(captured.records)
    assert "RuntimeError" in log, "the error was not logged at all: nothing to check"
    assert_no_phi(log, PHI)


# Out of process: the real server, its stdout and stderr, access log included.


STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def wait_until_up(http: httpx.AsyncClient, server: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(STARTUP_SECONDS):
        while True:
            assert server.returncode is None, "the server exited while starting"
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


async def stop(server: asyncio.subprocess.Process) -> None:
    if server.returncode is None:
        server.terminate()
    try:
        await asyncio.wait_for(server.wait(), 20)
    except TimeoutError:
        server.kill()
        await server.wait()


def server_environment(settings: Settings, database_url: str, data_dir: Path) -> dict[str, str]:
    assert settings.secret_key is not None
    assert settings.phi_encryption_keys is not None
    environment = {
        name: value
        for name, value in os.environ.items()
        if name.upper() not in Settings.model_fields and name.lower() not in Settings.model_fields
    }
    environment.update(
        ENVIRONMENT="test",
        # What an operator writes; the service itself talks to it through asyncpg.
        DATABASE_URL=make_url(database_url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False),
        SECRET_KEY=settings.secret_key.get_secret_value(),
        PHI_ENCRYPTION_KEYS=settings.phi_encryption_keys.get_secret_value(),
        DATA_DIR=str(data_dir),
        LOG_FORMAT="json",
    )
    return environment


async def test_no_phi_in_server_output(settings, database_url, anonymous, tmp_path):
    staff_username = f"admin-{uuid.uuid4().hex[:6]}"
    await create_staff(settings, username=staff_username, password=STAFF_PASSWORD, role="admin")
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "uvicorn", "app.main:app", "--app-dir", str(PROJECT_ROOT)),
        *("--host", "127.0.0.1", "--port", str(port), "--log-level", "debug"),
        cwd=tmp_path,  # no .env file of the checkout
        env=server_environment(settings, database_url, tmp_path / "data"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert server.stdout is not None
    output = asyncio.create_task(server.stdout.read())
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=30
        ) as http:
            await wait_until_up(http, server)
            tokens = await exercise(http, staff_username)
    finally:
        await stop(server)
    log = (await output).decode(errors="replace")

    # Every line is a JSON object (uvicorn's own included), and the service's access log has the
    # searches with their values replaced.
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all(isinstance(line, dict) and {"time", "level", "event"} <= set(line) for line in lines)
    assert any(line["event"].startswith("Application startup complete") for line in lines), log
    searches = [
        line
        for line in lines
        if line.get("logger") == "app.access"
        and line["route"] == "/api/patients/"
        and line["method"] == "GET"
    ]
    assert [line["status"] for line in searches] == [200, 404, 403], log
    for line in searches:
        assert line["query"].startswith("name=***&phone=***&email=***"), line
    assert_no_phi(log, [*PHI, *tokens])

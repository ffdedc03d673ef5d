"""Structured logs (docs/operations/observability.md): one JSON object per line with the request's
fields, X-Request-ID kept or generated, and no PHI, secret or exception message in any line."""

import asyncio
import io
import json
import logging
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI

from app.auth.commands import create_staff
from app.core.config import PROJECT_ROOT, Settings
from app.core.logging import (
    RedactQueryFilter,
    StructuredHandler,
    configure_logging,
    describe_exception,
    redact_query,
    redact_query_string,
)
from app.main import create_app
from tests.factories import create_patient, patient_payload
from tests.test_no_phi_in_logs import free_port, server_environment, stop, wait_until_up

SSN = "078-05-" + "1120"  # so that no source line a traceback shows has it
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
ACCESS_FIELDS = {"time", "level", "event", "request_id", "method", "route", "status"}
ACCESS_FIELDS |= {"duration_ms", "actor"}


def test_search_values_are_redacted_and_the_rest_kept():
    path = "/api/patients/?name=john+smith&phone=%2B1415&email=a%40b.c&sex=F&page=2"
    assert redact_query(path) == "/api/patients/?name=***&phone=***&email=***&sex=F&page=2"


def test_paths_without_query_are_unchanged():
    assert redact_query("/api/patients/p_abc123/") == "/api/patients/p_abc123/"


def test_access_record_is_redacted():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/patients/?phone=4155550123", "1.1", 200),
        None,
    )
    assert RedactQueryFilter().filter(record)
    assert "4155550123" not in record.getMessage()
    assert "phone=***" in record.getMessage()


def test_the_admin_search_box_is_redacted():
    assert redact_query("/admin/patient/list?search=%2B1415555&page=2") == (
        "/admin/patient/list?search=***&page=2"
    )


def test_tags_and_unknown_parameters_are_hidden():
    query = "tag=anxiety&tag=insomnia&ordering=-created_at&page_size=10&Zephyrine=1&x=078-05-1120"
    assert redact_query_string(query) == (
        "tag=***&tag=***&ordering=-created_at&page_size=10&***=***&***=***"
    )


def test_exceptions_are_described_without_their_messages():
    ssn, name = "078-05-" + "1120", "Zephyrine " + "Quistgaard"  # not in the source lines shown

    def fail() -> None:
        try:
            raise KeyError(ssn)
        except KeyError as error:
            raise RuntimeError(f"patient {name}") from error

    try:
        fail()
    except RuntimeError as error:
        described = describe_exception(error)
    assert "078-05-1120" not in described
    assert "Zephyrine" not in described
    assert "KeyError (message not logged)" in described
    assert "RuntimeError (message not logged)" in described
    assert described.index("KeyError") < described.index("RuntimeError")  # as Python prints it
    assert "in fail" in described


# Logs captured from the service: configure_logging into a buffer, parsed line by line.

Capture = Callable[..., Callable[[], str]]


@pytest.fixture
def capture_logs(settings: Settings) -> Iterator[Capture]:
    """configure_logging into a buffer (after any create_app, which configures its own)."""

    def start(log_format: str = "json") -> Callable[[], str]:
        buffer = io.StringIO()
        configure_logging(settings.model_copy(update={"log_format": log_format}), buffer)
        return buffer.getvalue

    yield start
    configure_logging(settings)


# The tests' own HTTP client logs the URLs it requests; the service does not use it.
CLIENT_LOGGERS = ("httpx", "httpcore")


def json_lines(output: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    for line in lines:
        assert isinstance(line, dict), line
        assert {"time", "level", "event", "logger"} <= set(line), line
    return [line for line in lines if line["logger"].partition(".")[0] not in CLIENT_LOGGERS]


def service_output(output: str) -> str:
    return "\n".join(json.dumps(line) for line in json_lines(output))


def access_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    access = [line for line in lines if line["logger"] == "app.access"]
    for line in access:
        assert set(line) >= ACCESS_FIELDS, line
        assert line["event"] == "request"
        assert isinstance(line["duration_ms"], int | float)
        assert line["duration_ms"] >= 0
    return access


async def test_every_line_is_json_with_the_request_fields(capture_logs, client, anonymous):
    read = capture_logs("json")
    patient = await create_patient(client, phone_no="+14155550555")
    url = f"/api/patients/{patient['id']}/"
    search = {"name": "Alice", "phone": "555", "email": "a@b"}
    response = await client.get("/api/patients/", params=search)
    assert response.status_code == 200
    wrong = {"username": "admin", "password": "Wrong-Password-Alice"}
    assert (await anonymous.post("/api/auth/token/", data=wrong)).status_code == 401
    login = {"username": patient["phone_no"], "password": patient_payload()["password"]}
    token = (await anonymous.post("/api/auth/token/", data=login)).json()["access_token"]
    own = await anonymous.get(url, headers={"Authorization": f"Bearer {token}"})
    assert own.status_code == 200
    output = service_output(read())

    access = access_lines(json_lines(output))
    by_route = {(line["method"], line["route"], line["status"]): line for line in access}
    listed = by_route["GET", "/api/patients/", 200]
    assert listed["query"] == "name=***&phone=***&email=***"
    assert listed["actor"].startswith("staff:")
    assert listed["level"] == "info"
    assert listed["request_id"] == response.headers["x-request-id"]
    assert by_route["POST", "/api/patients/", 201]["actor"] == listed["actor"]
    assert by_route["POST", "/api/auth/token/", 401]["actor"] is None
    assert by_route["GET", "/api/patients/{patient_id}/", 200]["actor"] == (
        f"patient:{patient['id']}"
    )
    # Request ids (random hex), staff ids (a sequence), times and durations may hold "555" by
    # chance: not PHI.
    logged = re.sub(r'"request_id": "[0-9a-f]{32}"', '"request_id": ""', output)
    logged = re.sub(r'"actor": "staff:\d+"', '"actor": ""', logged)
    logged = re.sub(r'"time": "[^"]*"', '"time": ""', logged)
    logged = re.sub(r'"duration_ms": [0-9.]+', '"duration_ms": 0', logged)
    for value in ("Alice", "555", "a@b", "a%40b", "Wrong-Password", token, patient["id"] + "/"):
        assert value not in logged


async def test_request_id_is_kept_when_valid_and_generated_otherwise(capture_logs, anonymous):
    read = capture_logs("json")
    responses = [
        await anonymous.get("/healthz", headers={"X-Request-ID": "edge-7f3a 9"}),
        await anonymous.get("/healthz", headers={"X-Request-ID": "x" * 128}),
        await anonymous.get("/healthz"),
        await anonymous.get("/healthz", headers={"X-Request-ID": "x" * 129}),
        await anonymous.get("/healthz", headers={"X-Request-ID": "tab\tinside"}),
        await anonymous.get("/healthz", headers={"X-Request-ID": "caf\xe9".encode("latin-1")}),
        await anonymous.get("/healthz", headers={"X-Request-ID": ""}),
    ]
    ids = [response.headers["x-request-id"] for response in responses]
    assert ids[:2] == ["edge-7f3a 9", "x" * 128]
    assert all(GENERATED_ID.fullmatch(generated) for generated in ids[2:]), ids
    assert len(set(ids)) == len(ids)
    access = access_lines(json_lines(read()))
    assert [line["request_id"] for line in access] == ids
    assert all(line["route"] == "/healthz" for line in access)


@pytest.fixture
async def noisy_app(settings: Settings) -> FastAPI:
    """The service with routes that log, and fail, with PHI at hand (no lifespan: no database)."""
    application: FastAPI = create_app(settings)

    @application.get("/noisy")
    async def noisy() -> dict[str, str]:
        logging.getLogger("app.noisy").warning("standard library record %s", "inside")
        structlog.get_logger("app.noisy").info("structlog event", answer=42, password="hunter2")
        try:
            raise ValueError(SSN)
        except ValueError:
            logging.getLogger("app.noisy").exception("caught")
        return {}

    @application.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"patient {SSN}")

    return application


async def test_every_record_of_a_request_carries_its_id(capture_logs, noisy_app):
    read = capture_logs("json")
    transport = httpx.ASGITransport(app=noisy_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        noisy = await http.get("/noisy", headers={"X-Request-ID": "noisy-1"})
        boom = await http.get("/boom")
        big = b"{" + b" " * 300_000 + b"}"
        too_large = await http.post(
            "/api/patients/", content=big, headers={"content-type": "application/json"}
        )
    assert noisy.status_code == 200
    assert boom.status_code == 500
    assert too_large.status_code == 413
    output = service_output(read())
    lines = json_lines(output)

    of_noisy = [line for line in lines if line.get("request_id") == "noisy-1"]
    events = [line["event"] for line in of_noisy]
    assert events == ["standard library record inside", "structlog event", "caught", "request"]
    assert of_noisy[0]["level"] == "warning"
    assert of_noisy[1]["answer"] == 42
    assert of_noisy[1]["password"] == "***"
    assert "ValueError (message not logged)" in of_noisy[2]["exception"]
    assert of_noisy[2]["level"] == "error"

    boom_id = boom.headers["x-request-id"]
    of_boom = [line for line in lines if line.get("request_id") == boom_id]
    assert [line["event"].split("\n")[0] for line in of_boom] == [
        "unhandled RuntimeError",
        "request",
    ]
    assert of_boom[-1]["status"] == 500
    assert of_boom[-1]["route"] == "/boom"

    (large,) = [
        line for line in lines if line.get("request_id") == too_large.headers["x-request-id"]
    ]
    assert large["status"] == 413
    for secret in (SSN, "hunter2"):
        assert secret not in output


def test_records_of_uvicorn_and_libraries_are_structured_too(capture_logs):
    read = capture_logs("json")
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 4242)
    logging.getLogger("sqlalchemy.pool").warning("pool %s", "message")
    started, pool = json_lines(read())
    assert started["event"] == "Started server process [4242]"
    assert started["logger"] == "uvicorn.error"
    assert "request_id" not in started
    assert pool["level"] == "warning"


async def test_console_format_is_for_people(capture_logs, anonymous):
    read = capture_logs("console")
    response = await anonymous.get("/healthz", headers={"X-Request-ID": "console-1"})
    assert response.status_code == 200
    (line,) = [line for line in read().splitlines() if "app.access" in line]
    assert not line.startswith("{")
    assert "request_id=console-1" in line
    assert "route=/healthz" in line
    assert "status=200" in line


def test_configure_logging_replaces_console_handlers_and_silences_uvicorn_access(settings):
    root = logging.getLogger()
    basic = logging.StreamHandler(io.StringIO())
    root.addHandler(basic)
    try:
        configure_logging(settings)
        configure_logging(settings)
        assert basic not in root.handlers
        assert sum(isinstance(h, StructuredHandler) for h in root.handlers) == 1
        assert not logging.getLogger("uvicorn.access").hasHandlers()
        assert logging.getLogger("uvicorn").propagate
    finally:
        root.removeHandler(basic)


def test_the_default_format_follows_the_environment(tmp_path):
    def made(**values: Any) -> Settings:
        return Settings(_env_file=None, data_dir=tmp_path, **values)

    assert made(environment="development").effective_log_format == "console"
    assert made(environment="test").effective_log_format == "console"
    assert made(environment="test", log_format="json").effective_log_format == "json"
    assert made(environment="development", log_format="").effective_log_format == "console"


async def test_serve_logs_json_lines_and_no_uvicorn_access_log(settings, database_url, tmp_path):
    """`python -m app serve`, as an operator runs it: every line of its output is JSON."""
    username = f"admin-{uuid.uuid4().hex[:6]}"
    await create_staff(settings, username=username, password="Serve-Password-1", role="admin")
    port = free_port()
    environment = server_environment(settings, database_url, tmp_path / "data")
    environment.update(PORT=str(port), LOG_FORMAT="json", PYTHONUNBUFFERED="1")
    server = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "app", "serve"),
        cwd=tmp_path,
        env={**environment, "PYTHONPATH": str(PROJECT_ROOT)},
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
            token = await http.post(
                "/api/auth/token/", data={"username": username, "password": "Serve-Password-1"}
            )
            assert token.status_code == 200
            listed = await http.get(
                "/api/patients/?name=Alice&phone=555",
                headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            )
            assert listed.status_code == 200
    finally:
        await stop(server)
    log = (await output).decode(errors="replace")
    lines = json_lines(log)
    events = [line["event"] for line in lines]
    assert any(event.startswith("Uvicorn running on") for event in events), log
    assert "Application shutdown complete." in events, log
    access = access_lines(lines)
    (search,) = [line for line in access if line["route"] == "/api/patients/"]
    assert search["query"] == "name=***&phone=***"
    assert search["request_id"] == listed.headers["x-request-id"]
    assert search["actor"].startswith("staff:")
    assert not any('"GET /api/patients/' in line for line in log.splitlines()), log
    assert "Alice" not in log

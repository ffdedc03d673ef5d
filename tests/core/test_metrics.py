"""/metrics (docs/operations/observability.md): HTTP requests by route template, the database pool's
gauges, the business counters, and who may read it."""

import asyncio
import base64
import os
import secrets
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from app.core.config import PROJECT_ROOT, Settings
from app.core.metrics import PoolCollector
from app.db.database import Database
from app.main import create_app
from tests.admin.conftest import log_in as admin_log_in
from tests.factories import create_patient

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(exposition: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_of(samples: Samples, route: str, *, method: str = "GET", status: str = "200") -> float:
    return value(samples, "http_requests_total", method=method, route=route, status=status)


async def test_requests_are_counted_by_route_template_never_by_path(client):
    patient = await create_patient(client)
    template = "/api/patients/{patient_id}/"
    before = await scrape(client)
    for _ in range(3):
        assert (await client.get(f"/api/patients/{patient['id']}/")).status_code == 200
    assert (await client.get("/api/patients/p_zz9zz9/")).status_code == 404
    assert (await client.get(f"/no/such/{patient['id']}/")).status_code == 404
    after = await scrape(client)

    assert requests_of(after, template) - requests_of(before, template) == 3
    for route in (template, "<unmatched>"):
        moved = requests_of(after, route, status="404") - requests_of(before, route, status="404")
        assert moved == 1, route
    duration = {"method": "GET", "route": template, "status": "200"}
    count = value(after, "http_request_duration_seconds_count", **duration)
    assert count - value(before, "http_request_duration_seconds_count", **duration) == 3
    assert value(after, "http_request_duration_seconds_bucket", **duration, le="+Inf") == count
    routes = {dict(labels).get("route", "") for _, labels in after}
    assert not any(patient["id"] in route or "p_zz9zz9" in route for route in routes), routes


async def test_mounted_apps_are_labelled_with_their_mount(client, anonymous):
    before = await scrape(client)
    for path, answer in (
        ("/admin/login", 200),
        ("/admin/statics/css/main.css", 200),
        ("/admin/patient/list?search=x", 302),  # to the login page
    ):
        assert (await anonymous.get(path)).status_code == answer, path
    after = await scrape(client)
    for route, status in (
        ("/admin/login", "200"),
        ("/admin/statics/{path}", "200"),
        ("/admin/{identity}/list", "302"),  # to the login page
    ):
        moved = requests_of(after, route, status=status) - requests_of(before, route, status=status)
        assert moved == 1, route


async def test_invented_methods_share_one_label(client):
    for method in ("FOO", "BAR"):
        response = await client.request(method, "/healthz")
        assert response.status_code == 405
    samples = await scrape(client)
    methods = {dict(labels)["method"] for name, labels in samples if name == "http_requests_total"}
    assert "OTHER" in methods
    assert not {"FOO", "BAR"} & methods


async def test_business_counters_move(client, anonymous):
    before = await scrape(client)
    patient = await create_patient(client)
    url = f"/api/patients/{patient['id']}/"
    for amount in ("25.00", "-5.00"):
        response = await client.post(f"{url}update_wallet/", json={"amount": amount})
        assert response.status_code == 200, response.text
    response = await client.post(f"{url}update_wallet/", json={"amount": "-500.00"})
    assert response.status_code == 400  # refused: not a wallet update
    assert (await client.delete(url)).status_code == 204
    bad = {"username": "admin", "password": "not-the-password"}
    assert (await anonymous.post("/api/auth/token/", data=bad)).status_code == 401
    admin_login = await admin_log_in(anonymous, bad["username"], bad["password"])
    assert admin_login.status_code == 400, admin_login.text  # the admin's form, with its error
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("patients_created_total") == 1
    assert moved("patients_deleted_total") == 1
    assert moved("wallet_updates_total", direction="credit") == 1
    assert moved("wallet_updates_total", direction="debit") == 1
    assert moved("failed_logins_total") == 2
    assert moved("throttled_requests_total", limit="login") == 0


async def test_throttled_logins_are_counted(client, anonymous, settings):
    before = await scrape(client)
    bad = {"username": f"nobody-{uuid.uuid4().hex[:6]}", "password": "wrong-password"}
    allowed = int(settings.login_rate_limit.partition("/")[0])
    statuses = [
        (await anonymous.post("/api/auth/token/", data=bad)).status_code for _ in range(allowed + 2)
    ]
    assert statuses == [401] * allowed + [429, 429]
    after = await scrape(client)
    limit = {"limit": "login"}
    throttled = value(after, "throttled_requests_total", **limit)
    assert throttled - value(before, "throttled_requests_total", **limit) == 2
    assert value(after, "failed_logins_total") - value(before, "failed_logins_total") == allowed
    route = "/api/auth/token/"
    throttled_posts = requests_of(after, route, method="POST", status="429")
    assert throttled_posts - requests_of(before, route, method="POST", status="429") == 2


async def test_the_pool_gauges_are_read_at_scrape_time(client, settings):
    samples = await scrape(client)
    assert value(samples, "db_pool_size") == settings.db_pool_size
    assert value(samples, "db_pool_max_overflow") == settings.db_max_overflow
    for name in ("db_pool_connections_in_use", "db_pool_connections_idle", "db_pool_waiting"):
        assert (name, frozenset()) in samples, name
    assert value(samples, "db_pool_waiting") == 0


async def test_waiting_counts_requests_blocked_on_a_full_pool(settings, database_url):
    """With every connection in use, an acquire waits; the gauge says how many do."""
    one = settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0})
    database = await Database.open(one, database_url)

    def gauges() -> dict[str, float]:
        collector = PoolCollector(database.pool, pool_size=1, max_overflow=0)
        return {family.name: family.samples[0].value for family in collector.collect()}

    try:
        async with database.connection() as held:
            await held.execute("SELECT 1")
            assert gauges()["db_pool_connections_in_use"] == 1
            assert gauges()["db_pool_waiting"] == 0

            async def query() -> None:
                async with database.connection() as connection:
                    await connection.execute("SELECT 1")

            waiters = [asyncio.create_task(query()) for _ in range(2)]
            for _ in range(500):  # until both wait in the pool's queue
                if gauges()["db_pool_waiting"] == 2:
                    break
                await asyncio.sleep(0.01)
            assert gauges()["db_pool_waiting"] == 2
            assert gauges()["db_pool_connections_in_use"] == 1
        await asyncio.gather(*waiters)
        assert gauges()["db_pool_waiting"] == 0
        assert gauges()["db_pool_connections_in_use"] == 0
    finally:
        await database.close()


@pytest.fixture
def app_with() -> Callable[..., httpx.AsyncClient]:
    """A client of a new app (no lifespan, so no database) made with other settings."""

    def make(settings: Settings, client: tuple[str, int] = ("127.0.0.1", 4321)) -> Any:
        application: FastAPI = create_app(settings)
        transport = httpx.ASGITransport(app=application, client=client)
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    return make


@pytest.fixture
async def token_client(
    settings: Settings, app_with: Callable[..., httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    restricted = settings.model_copy(update={"metrics_token": SecretStr("scrape-token-1")})
    async with app_with(restricted) as client:
        yield client


async def test_metrics_token_is_required_when_set(token_client):
    response = await token_client.get("/metrics")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert set(response.json()) == {"detail"}
    wrong = await token_client.get("/metrics", headers={"Authorization": "Bearer scrape-token-2"})
    assert wrong.status_code == 401
    basic = await token_client.get("/metrics", headers={"Authorization": "Basic scrape-token-1"})
    assert basic.status_code == 401
    right = await token_client.get("/metrics", headers={"Authorization": "Bearer scrape-token-1"})
    assert right.status_code == 200
    assert "http_requests_total" in right.text
    assert "db_pool_size" not in right.text  # no lifespan here: no engine, no pool gauges


async def test_metrics_can_be_limited_to_networks(settings, app_with):
    networks = settings.model_copy(
        update={"metrics_allowed_networks": [ip_network("10.0.0.0/8"), ip_network("::1/128")]}
    )
    async with app_with(networks, client=("10.1.2.3", 1)) as inside:
        assert (await inside.get("/metrics")).status_code == 200
    async with app_with(networks, client=("192.0.2.7", 1)) as outside:
        response = await outside.get("/metrics")
        assert response.status_code == 403
        assert set(response.json()) == {"detail"}


def production(settings: Settings, **metrics: Any) -> Settings:
    """The test settings as production takes them: validated, with strong secrets."""
    return Settings.model_validate(
        {
            **settings.model_dump(),
            "environment": "production",
            "secret_key": secrets.token_urlsafe(48),
            "phi_encryption_keys": "prod1:" + base64.b64encode(os.urandom(32)).decode(),
            "allowed_hosts": ["testserver"],
            **metrics,
        }
    )


def assert_refused(response: httpx.Response, status: int, detail: str) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"detail": detail}
    assert "http_requests_total" not in response.text


NOT_PROVIDED = "Authentication credentials were not provided."
NOT_PERMITTED = "You do not have permission to perform this action."


async def test_production_metrics_with_a_token(settings, app_with):
    """Defect 14 of issue 22: production's /metrics answered anyone; now it has a token or
    networks (tests/core/test_config.py: it will not start without one)."""
    token = secrets.token_urlsafe(32)
    async with app_with(production(settings, metrics_token=token)) as client:
        response = await client.get("/metrics")
        assert_refused(response, 401, NOT_PROVIDED)
        assert response.headers["www-authenticate"] == "Bearer"
        wrong = await client.get("/metrics", headers={"Authorization": f"Bearer {token[:-1]}"})
        assert_refused(wrong, 401, NOT_PROVIDED)
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert right.status_code == 200
        assert "http_requests_total" in right.text


async def test_production_metrics_for_allowed_networks(settings, app_with):
    limited = production(settings, metrics_allowed_networks=["10.0.0.0/8", "fd00::/8"])
    for inside in ("10.200.0.1", "fd00::7"):
        async with app_with(limited, client=(inside, 1)) as client:
            response = await client.get("/metrics")
            assert response.status_code == 200, (inside, response.text)
            assert "http_requests_total" in response.text
    for outside in ("192.0.2.7", "127.0.0.1", "fe80::1"):
        async with app_with(limited, client=(outside, 1)) as client:
            assert_refused(await client.get("/metrics"), 403, NOT_PERMITTED)


async def test_production_metrics_with_both_needs_both(settings, app_with):
    token = secrets.token_urlsafe(32)
    both = production(settings, metrics_token=token, metrics_allowed_networks=["10.0.0.0/8"])
    authorization = {"Authorization": f"Bearer {token}"}
    async with app_with(both, client=("10.0.0.9", 1)) as inside:
        assert_refused(await inside.get("/metrics"), 401, NOT_PROVIDED)
        assert (await inside.get("/metrics", headers=authorization)).status_code == 200
    async with app_with(both, client=("192.0.2.7", 1)) as outside:
        assert_refused(await outside.get("/metrics", headers=authorization), 403, NOT_PERMITTED)


async def test_metrics_can_be_disabled(settings, app_with):
    async with app_with(settings.model_copy(update={"metrics_enabled": False})) as client:
        assert (await client.get("/metrics")).status_code == 404


async def test_metrics_is_not_in_the_openapi_document(app):
    assert "/metrics" not in app.openapi()["paths"]


async def test_openmetrics_when_prometheus_asks_for_it(client):
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    response = await client.get("/metrics", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
    assert response.text.count("# EOF") == 1


COUNT_ONE_PATIENT = "from app.core.metrics import count_patient_created; count_patient_created()"
SCRAPE = (
    "import sys; from app.core.metrics import exposition; "
    "sys.stdout.write(exposition(None, None)[0].decode())"
)


def test_multiprocess_mode_adds_up_every_process(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, a scrape of any worker reports what all of them counted."""
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def run(code: str) -> str:
        done = subprocess.run(  # noqa: S603 - this interpreter, our own code
            [sys.executable, "-c", textwrap.dedent(code)],
            cwd=PROJECT_ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    run(COUNT_ONE_PATIENT)
    run(COUNT_ONE_PATIENT)
    assert value(parse(run(SCRAPE)), "patients_created_total") == 2

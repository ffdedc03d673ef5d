"""When PostgreSQL is unreachable, stopped, or shutting down, requests fail fast with a 503 and
`{"detail": …}`; when it is back, the same app serves again without a restart.

The outages are real: a port nothing listens on, and a throwaway cluster of our own
(scripts/pgcluster.py, as `make chaos` uses) that is stopped and started again.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from alembic import command
from fastapi import FastAPI

from app.auth.commands import create_staff
from app.auth.tokens import Tokens
from app.core.config import Settings
from app.main import create_app
from scripts.pgcluster import Cluster
from tests.admin.conftest import csrf_token
from tests.conftest import STAFF_PASSWORD, alembic_config
from tests.factories import patient_payload

FAST_SECONDS = 3.0
UNAVAILABLE = {"detail": "Service temporarily unavailable, try again later."}


async def timed(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
    started = time.monotonic()
    response = await client.request(method, path, **kwargs)
    return response, time.monotonic() - started


def assert_fast_503(response: httpx.Response, elapsed: float) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == UNAVAILABLE
    assert response.headers["retry-after"] == "5"
    assert elapsed < FAST_SECONDS


def writes(patient_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """A request of each kind the outage must turn into a 503."""
    return [
        ("GET", "/api/patients/", {}),
        ("POST", "/api/patients/", {"json": patient_payload()}),
        ("GET", f"/api/patients/{patient_id}/", {}),
        ("PATCH", f"/api/patients/{patient_id}/", {"json": {"address": "1 Main St"}}),
        ("POST", f"/api/patients/{patient_id}/update_wallet/", {"json": {"amount": "1.00"}}),
        ("POST", f"/api/patients/{patient_id}/add_tag/", {"json": {"tag": "outage"}}),
    ]


@pytest.fixture
async def unreachable(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app pointed at a port where nothing listens, with the default timeouts."""
    broken = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}
    )
    application = create_app(broken)
    async with application.router.lifespan_context(application):
        token = Tokens(broken).create(kind="staff", subject="1", session=str(uuid.uuid4()))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application),
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            yield client


async def test_an_unreachable_database_is_a_fast_503_everywhere(unreachable):
    for method, path, kwargs in writes("p_abc123"):
        assert_fast_503(*await timed(unreachable, method, path, **kwargs))
    readyz, elapsed = await timed(unreachable, "GET", "/readyz")
    assert readyz.status_code == 503
    assert readyz.json() == {"detail": "Database unavailable."}
    assert elapsed < FAST_SECONDS
    for login_url in ("/api/auth/token/", "/admin/login"):
        form = {"username": "a", "password": "b"}
        if login_url == "/admin/login":  # the login page needs no database: its CSRF token
            form["csrf_token"] = await csrf_token(unreachable, login_url)
        login = await unreachable.post(login_url, data=form)
        assert login.status_code == 503, login_url
        assert login.json() == UNAVAILABLE


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A PostgreSQL of this module's own, migrated, that the tests may stop and start."""
    try:
        cluster = Cluster(prefix="therapy-outage-")
    except RuntimeError as error:  # no PostgreSQL binaries, or initdb failed
        pytest.skip(f"no throwaway PostgreSQL: {error}")
    try:
        cluster.start()
        cluster.create_database("therapy")
        command.upgrade(alembic_config(database(cluster)), "head")
        yield cluster
    finally:
        cluster.destroy()


def database(cluster: Cluster) -> str:
    return cluster.url("therapy").replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest.fixture
async def outage_app(cluster: Cluster, settings: Settings) -> AsyncIterator[FastAPI]:
    own = settings.model_copy(update={"database_url": database(cluster)})
    application = create_app(own)
    async with application.router.lifespan_context(application):
        yield application
    if not cluster.running:
        await asyncio.to_thread(cluster.start)


@pytest.fixture
async def admin(outage_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    settings: Settings = outage_app.state.settings
    username = f"admin-{time.monotonic_ns()}"
    await create_staff(settings, username=username, password=STAFF_PASSWORD, role="admin")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=outage_app), base_url="http://testserver"
    ) as client:
        login = await client.post(
            "/api/auth/token/", data={"username": username, "password": STAFF_PASSWORD}
        )
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        yield client


async def test_a_stopped_database_is_a_fast_503_and_the_service_recovers_by_itself(cluster, admin):
    created = await admin.post("/api/patients/", json=patient_payload())
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]

    await asyncio.to_thread(cluster.stop, "immediate")
    for method, path, kwargs in writes(patient_id):
        assert_fast_503(*await timed(admin, method, path, **kwargs))
    assert (await admin.get("/readyz")).status_code == 503

    await asyncio.to_thread(cluster.start)
    assert (await admin.get("/readyz")).status_code == 200
    changed = await admin.post(
        f"/api/patients/{patient_id}/update_wallet/", json={"amount": "2.50"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["wallet_balance"] == "2.50"
    assert (await admin.post("/api/patients/", json=patient_payload())).status_code == 201


async def stopped(cluster: Cluster) -> None:
    deadline = time.monotonic() + 10
    while cluster.running:
        assert time.monotonic() < deadline, "the smart shutdown never finished"
        await asyncio.sleep(0.05)


async def refusing_connections(url: str) -> None:
    """Waits until the postmaster has begun its shutdown (pg_ctl returns before it does)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            probe = await asyncpg.connect(url)
        except asyncpg.CannotConnectNowError:
            return
        await probe.close()
        await asyncio.sleep(0.05)
    raise AssertionError("the smart shutdown never began")


async def test_a_database_shutting_down_is_a_503_not_a_500(cluster, admin, outage_app):
    """While a smart shutdown waits for its last session, new connections are refused with
    "the database system is shutting down" (SQLSTATE 57P03)."""
    assert (await admin.get("/api/patients/")).status_code == 200
    last_session = await asyncpg.connect(cluster.url("therapy"))
    try:
        await outage_app.state.database.pool.expire_connections()  # each request connects anew
        await asyncio.to_thread(cluster.stop, "smart", wait=False)
        await refusing_connections(cluster.url("therapy"))
        for method, path, kwargs in writes("p_abc123"):
            assert_fast_503(*await timed(admin, method, path, **kwargs))
        assert (await admin.get("/readyz")).status_code == 503
    finally:
        await last_session.close()
    await stopped(cluster)  # the smart shutdown ends with its last session
    await asyncio.to_thread(cluster.start)
    assert (await admin.get("/api/patients/")).status_code == 200


async def test_a_connection_killed_mid_request_is_a_503(cluster, admin):
    """A backend terminated while the request uses it: the pool drops it and serves on."""
    assert (await admin.get("/api/patients/")).status_code == 200
    killer = await asyncpg.connect(cluster.url("therapy"))
    try:
        lock = killer.transaction()
        await lock.start()
        created = await admin.post("/api/patients/", json=patient_payload())
        patient_id = created.json()["id"]
        await killer.execute("SELECT 1 FROM patients WHERE id = $1 FOR UPDATE", patient_id)
        blocked = asyncio.ensure_future(
            admin.post(f"/api/patients/{patient_id}/update_wallet/", json={"amount": "1.00"})
        )
        for _ in range(100):
            waiting = await asyncpg_waiting(cluster)
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting, "the wallet change never reached the row lock"
        await killer.execute("SELECT pg_terminate_backend($1)", waiting[0])
        response = await blocked
        await lock.rollback()
    finally:
        await killer.close()
    assert response.status_code == 503, response.text
    assert response.json() == UNAVAILABLE
    assert (await admin.get(f"/api/patients/{patient_id}/")).json()["wallet_balance"] == "0.00"


async def asyncpg_waiting(cluster: Cluster) -> list[int]:
    """Backends of the service waiting on a lock (from a connection of their own: a
    transaction sees one snapshot of pg_stat_activity)."""
    observer = await asyncpg.connect(cluster.url("therapy"))
    try:
        rows = await observer.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND state = 'active' AND wait_event_type = 'Lock'"
        )
    finally:
        await observer.close()
    return [row["pid"] for row in rows]

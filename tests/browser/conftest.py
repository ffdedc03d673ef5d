"""Browser tests: headless Chromium (Debian's) driven by Playwright against a live server.

They need /usr/bin/chromium (`apt-get install chromium`): .ci/run installs it; elsewhere they
are skipped when it is missing, and fail in CI.
"""

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.auth.commands import create_staff
from app.core.config import PROJECT_ROOT, Settings

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists() or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium)")
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(skip)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def live_server(
    settings: Settings, database_url: str, anonymous: httpx.AsyncClient
) -> Iterator[str]:
    """The service under uvicorn on a free port, on the test database."""
    port = _free_port()
    assert settings.secret_key is not None
    assert settings.phi_encryption_keys is not None
    env = {
        **os.environ,
        "DATABASE_URL": make_url(database_url).render_as_string(hide_password=False),
        "SECRET_KEY": settings.secret_key.get_secret_value(),
        "PHI_ENCRYPTION_KEYS": settings.phi_encryption_keys.get_secret_value(),
        "MEDIA_DIR": str(settings.data_dir / "media"),
        "ENVIRONMENT": "test",
    }
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=PROJECT_ROOT,
        env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the live server did not become ready")
    yield base_url
    process.terminate()
    process.wait(timeout=15)


@pytest.fixture
async def page() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        try:
            yield page
        finally:
            await context.close()
            await browser.close()


@pytest.fixture
async def admin_account(settings: Settings) -> tuple[str, str]:
    await create_staff(
        settings, username="browser-admin", password="browser-password", role="admin"
    )
    return "browser-admin", "browser-password"


__all__ = ["ARTIFACTS", "asyncio"]

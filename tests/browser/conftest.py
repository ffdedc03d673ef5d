"""Browser tests: headless Chromium (Debian's) driven by Playwright against a live server.

They need /usr/bin/chromium (`apt-get install chromium`): .ci/run installs it; elsewhere they
are skipped when it is missing, and fail in CI.

A module's tests share one server and one Chromium, started for its first test (its tests run on
one worker, tests/conftest.py); each test has a browser context of its own (no cookie or storage
carries over) and empties the tables after it (`anonymous`), as every test does. The server keeps
nothing else between tests that a test could see: its rate limits count failed logins, which no
test makes, and each account's API requests, and every account is new in each test.
"""

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from app.auth.commands import create_staff
from app.core.config import PROJECT_ROOT, Settings
from tests.served import server_env, serving
from tests.test_deploy import free_port

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

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


@pytest.fixture(scope="module")
def served(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service under uvicorn on a free port, on the worker's test database, for the
    module's tests."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)]
    log = tmp_path_factory.mktemp("browser-server") / "uvicorn.log"
    with serving([*command, "--log-level", "warning"], server_env(settings), log, port) as server:
        yield server.base_url


@pytest.fixture
def live_server(served: str, anonymous: httpx.AsyncClient) -> str:
    """The module's server; what the test wrote through it is emptied after it (`anonymous`)."""
    return served


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator["Browser"]:
    """Chromium, for the module's tests."""
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def page(browser: "Browser") -> AsyncIterator["Page"]:
    """A page in a browser context of the test's own: no cookie or storage of another test."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield await context.new_page()
    finally:
        await context.close()


@pytest.fixture
async def admin_account(settings: Settings) -> tuple[str, str]:
    await create_staff(
        settings, username="browser-admin", password="browser-password", role="admin"
    )
    return "browser-admin", "browser-password"


__all__ = ["ARTIFACTS", "asyncio"]

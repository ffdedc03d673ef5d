"""Admin tests: a browser-like client (cookie jar) that logs in through the /admin/login form."""

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from html import unescape
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.commands import create_staff
from app.core.config import Settings
from tests.appointments.conftest import (  # noqa: F401 - fixtures, used by name
    make_therapist,
    therapist,
)
from tests.conftest import STAFF_PASSWORD

AdminLogin = Callable[..., Awaitable[httpx.AsyncClient]]


CSRF_INPUT = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def browser(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def csrf_token(client: httpx.AsyncClient, path: str = "/admin/login") -> str:
    """The CSRF token a page's forms carry."""
    html = (await client.get(path)).text
    match = CSRF_INPUT.search(html) or CSRF_META.search(html)
    assert match is not None, f"no CSRF token on {path}"
    return unescape(match.group(1))


async def log_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    """The login form as a browser sends it; once in, the client sends the session's CSRF
    token with every request, as the admin's script does (X-CSRFToken)."""
    token = await csrf_token(client)
    response = await client.post(
        "/admin/login", data={"username": username, "password": password, "csrf_token": token}
    )
    if response.status_code == 302:
        client.headers["X-CSRFToken"] = await csrf_token(client, "/admin/")
    return response


@pytest.fixture
async def admin_login(
    app: FastAPI, settings: Settings, anonymous: httpx.AsyncClient
) -> AsyncIterator[AdminLogin]:
    """Makes a staff member of a role and a client logged in to the admin as them."""
    opened: list[httpx.AsyncClient] = []

    async def make(role: str = "admin", username: str | None = None) -> httpx.AsyncClient:
        username = username or f"{role}-{uuid.uuid4().hex[:6]}"
        await create_staff(settings, username=username, password=STAFF_PASSWORD, role=role)
        client = browser(app)
        opened.append(client)
        response = await log_in(client, username, STAFF_PASSWORD)
        assert response.status_code == 302, response.text
        return client

    yield make
    for client in opened:
        await client.aclose()


async def audit_rows(engine: AsyncEngine, action: str) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        result = await connection.execute(
            text("SELECT * FROM audit_events WHERE action = :action ORDER BY id"),
            {"action": action},
        )
        return [dict(row._mapping) for row in result]


def field_errors(html: str, field: str) -> list[str]:
    """The messages rendered right after the field's input (sqladmin's render_field)."""
    tag = re.search(rf'<(input|textarea|select)\b[^>]*\bid="{field}"[^>]*>', html)
    assert tag is not None, f"no field {field}"
    end = tag.end()
    if tag.group(1) != "input":
        end = html.index(f"</{tag.group(1)}>", end) + len(f"</{tag.group(1)}>")
    following = re.match(r'(\s*<div class="invalid-feedback">[^<]*</div>)*', html[end:])
    assert following is not None
    return [
        unescape(message)
        for message in re.findall(
            r'<div class="invalid-feedback">([^<]*)</div>', following.group(0)
        )
    ]

"""One client, one address in the audit trail, whichever UI it used: the API's and the admin's
logins and reads record the same, and an unknown client (an ASGI scope without one, as behind a
Unix socket) as null."""

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.commands import create_staff
from app.core.config import Settings
from tests.admin.conftest import audit_rows, log_in
from tests.conftest import STAFF_PASSWORD


def from_client(app: FastAPI, client: tuple[str, int] | None) -> ASGIApp:
    """The app as a server would call it for requests from `client` (None: not known)."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, "client": client}, receive, send)

    return asgi


@pytest.mark.parametrize("client", [("203.0.113.7", 4000), None], ids=["known", "unknown"])
async def test_the_api_and_the_admin_record_one_client_alike(
    app: FastAPI,
    settings: Settings,
    anonymous: httpx.AsyncClient,
    engine: AsyncEngine,
    client: tuple[str, int] | None,
) -> None:
    await create_staff(settings, username="rivera", password=STAFF_PASSWORD, role="admin")
    transport = httpx.ASGITransport(app=from_client(app, client))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        token = await http.post(
            "/api/auth/token/", data={"username": "rivera", "password": STAFF_PASSWORD}
        )
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        assert (await http.get("/api/patients/", headers=headers)).status_code == 200
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        assert (await log_in(browser, "rivera", STAFF_PASSWORD)).status_code == 302
        assert (await browser.get("/admin/patient/list")).status_code == 200

    expected = client[0] if client else None
    for action in ("login", "list_patients", "admin_login", "admin_list_patients"):
        rows = await audit_rows(engine, action)
        assert [row["client_address"] for row in rows] == [expected], action

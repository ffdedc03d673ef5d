"""The Host a request names (app/core/hosts.py) and the proxies believed (FORWARDED_ALLOW_IPS):
defects 7 and 8 of issue 13."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from app.auth.commands import create_staff
from app.core.config import Settings
from app.core.hosts import host_allowed, split_host
from app.main import create_app
from tests.factories import create_patient

PASSWORD = "staff-password-1"

Served = Callable[..., Any]


@pytest.fixture
def served(settings: Settings, anonymous: httpx.AsyncClient) -> Served:
    """A client of the service built with some settings changed, logged in as an admin."""

    @asynccontextmanager
    async def make(
        base_url: str = "http://testserver",
        client: tuple[str, int] = ("127.0.0.1", 123),
        **changes: Any,
    ) -> AsyncIterator[httpx.AsyncClient]:
        application = create_app(settings.model_copy(update=changes))
        transport = httpx.ASGITransport(app=application, client=client)
        async with (
            application.router.lifespan_context(application),
            httpx.AsyncClient(transport=transport, base_url=base_url) as http,
        ):
            yield http

    return make


async def _admin(http: httpx.AsyncClient, settings: Settings) -> None:
    await create_staff(settings, username="root", password=PASSWORD, role="admin")
    response = await http.post("/api/auth/token/", data={"username": "root", "password": PASSWORD})
    assert response.status_code == 200, response.text
    http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("api.example.org", "api.example.org"),
        ("API.Example.org:8443", "api.example.org"),
        ("[::1]:8000", "::1"),
        ("example.org.", "example.org"),
        ("evil.example@api.example.org", ""),
        ("api.example.org:port", ""),
        ("a b", ""),
        ("", ""),
    ],
)
def test_a_host_header_is_read_as_django_reads_it(host, domain):
    assert split_host(host) == domain


@pytest.mark.parametrize(
    ("domain", "allowed"),
    [
        ("api.example.org", True),
        ("www.example.org", True),
        ("example.org", True),
        ("badexample.org", False),
        ("example.org.evil.com", False),
        ("other.test", False),
    ],
)
def test_allowed_hosts_match_exactly_or_by_subdomain(domain, allowed):
    assert host_allowed(domain, ["api.example.org", ".example.org"]) is allowed
    assert host_allowed(domain, ["*"])


async def test_production_refuses_a_host_it_does_not_serve(served, settings):
    async with served(
        base_url="http://evil.example", environment="production", allowed_hosts=["api.example.org"]
    ) as http:
        response = await http.get("/healthz")
        assert response.status_code == 400
        assert response.json() == {"detail": "Host not allowed."}
        assert "evil" not in response.text
        # Local health checks name the loopback address.
        probe = await http.get("http://127.0.0.1:8000/healthz")
        assert probe.status_code == 200
        assert (await http.get("https://api.example.org/healthz")).status_code == 200


async def test_links_follow_the_host_when_no_base_url_is_set(served, settings):
    async with served(base_url="http://attacker.example") as http:
        await _admin(http, settings)
        for _ in range(2):
            await create_patient(http)
        page = (await http.get("/api/patients/", params={"page_size": 1})).json()
        assert page["next"].startswith("http://attacker.example/")


async def test_a_public_base_url_makes_every_link(served, settings):
    """Defect 8: the Host header was reflected into next, previous, Location and pictures."""
    public = "https://api.example.org"
    async with served(base_url="http://attacker.example", public_base_url=public) as http:
        await _admin(http, settings)
        for _ in range(2):
            patient = await create_patient(http)
        page = (await http.get("/api/patients/", params={"page_size": 1, "page": 2})).json()
        assert page["previous"].startswith(public + "/api/patients/?")
        redirect = await http.get("/api/patients", follow_redirects=False)
        assert redirect.status_code == 307
        assert redirect.headers["location"] == public + "/api/patients/"
        admin = await http.get("/admin", follow_redirects=False)
        assert admin.status_code == 307
        assert admin.headers["location"] == public + "/admin/"
        picture = await http.put(
            f"/api/patients/{patient['id']}/profile_picture/",
            files={"file": ("p.png", _png(), "image/png")},
        )
        assert picture.status_code == 200, picture.text
        assert picture.json()["profile_picture"].startswith(public + "/api/patients/")
        assert "attacker" not in picture.text + str(page)


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(buffer, "PNG")
    return buffer.getvalue()


async def _audited_address(http: httpx.AsyncClient) -> str | None:
    events = (await http.get("/api/audit/", params={"action": "list_patients"})).json()["results"]
    assert events, "the list was audited"
    address: str | None = events[0]["client_address"]
    return address


async def test_forwarded_for_is_ignored_by_default_even_from_loopback(served, settings):
    """Defect 7: X-Forwarded-For was believed from any loopback peer."""
    async with served() as http:
        await _admin(http, settings)
        await http.get("/api/patients/", headers={"X-Forwarded-For": "203.0.113.9"})
        assert await _audited_address(http) == "127.0.0.1"


async def test_forwarded_for_is_believed_from_a_configured_proxy(served, settings):
    async with served(client=("10.0.0.5", 4000), forwarded_allow_ips=["10.0.0.5"]) as http:
        await _admin(http, settings)
        await http.get("/api/patients/", headers={"X-Forwarded-For": "203.0.113.9"})
        assert await _audited_address(http) == "203.0.113.9"


async def test_forwarded_for_from_another_peer_is_ignored(served, settings):
    async with served(client=("10.0.0.6", 4000), forwarded_allow_ips=["10.0.0.5"]) as http:
        await _admin(http, settings)
        await http.get("/api/patients/", headers={"X-Forwarded-For": "203.0.113.9"})
        assert await _audited_address(http) == "10.0.0.6"

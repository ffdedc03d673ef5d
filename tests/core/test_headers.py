"""Security headers on every response, HSTS in production only, and CORS only when configured."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from tests.factories import create_patient

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
API_ONLY = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
ALLOWED_ORIGIN = "https://app.example"

AppClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def assert_headers(response: httpx.Response, expected: dict[str, str]) -> None:
    for name, value in expected.items():
        assert response.headers.get(name) == value, (name, response.headers)


@pytest.fixture
def app_client(settings: Settings) -> AppClient:
    """A client of a new app built from the test settings with some of them changed."""

    @asynccontextmanager
    async def make(**changes: Any) -> AsyncIterator[httpx.AsyncClient]:
        application = create_app(settings.model_copy(update=changes))
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client

    return make


async def test_api_responses_carry_security_headers(client):
    patient = await create_patient(client)
    for response in (
        await client.get("/api/patients/"),
        await client.get(f"/api/patients/{patient['id']}/"),
        await client.patch(f"/api/patients/{patient['id']}/", json={"first_name": "Ann"}),
    ):
        assert response.status_code == 200, response.text
        assert_headers(response, COMMON | API_ONLY)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/patients/", 401), ("/api/patients/p_zzzzzz/", 401), ("/api/nothing-here/", 404)],
)
async def test_errors_carry_security_headers(anonymous, path, status):
    response = await anonymous.get(path)
    assert response.status_code == status
    assert_headers(response, COMMON | API_ONLY)


async def test_not_found_patient_carries_security_headers(client):
    response = await client.get("/api/patients/p_zzzzzz/")
    assert response.status_code == 404
    assert_headers(response, COMMON | API_ONLY)


async def test_failed_login_carries_security_headers(anonymous):
    response = await anonymous.post(
        "/api/auth/token/", data={"username": "nobody", "password": "wrong-password"}
    )
    assert response.status_code == 401
    assert_headers(response, COMMON | API_ONLY)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_have_common_headers_but_not_the_api_csp(anonymous, page):
    response = await anonymous.get(page)
    assert response.status_code == 200
    assert_headers(response, COMMON)
    # The API's `default-src 'none'` would stop the docs' own scripts and styles from loading.
    assert "default-src 'none'" not in response.headers.get("Content-Security-Policy", "")


async def test_no_hsts_outside_production(anonymous):
    response = await anonymous.get("/healthz")
    assert "Strict-Transport-Security" not in response.headers


async def test_hsts_in_production(app_client):
    async with app_client(environment="production", allowed_hosts=["testserver"]) as client:
        for path in ("/healthz", "/api/nothing-here/", "/docs"):
            response = await client.get(path)
            hsts = response.headers.get("Strict-Transport-Security")
            assert hsts == "max-age=63072000; includeSubDomains", path  # two years


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }


async def test_no_cors_by_default(anonymous):
    response = await anonymous.options("/api/patients/", headers=preflight(ALLOWED_ORIGIN))
    assert "Access-Control-Allow-Origin" not in response.headers
    response = await anonymous.get("/api/patients/", headers={"Origin": ALLOWED_ORIGIN})
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_cors_allows_configured_origin_only(app_client):
    async with app_client(cors_origins=[ALLOWED_ORIGIN]) as client:
        allowed = await client.options("/api/patients/", headers=preflight(ALLOWED_ORIGIN))
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
        assert "GET" in allowed.headers["Access-Control-Allow-Methods"]
        assert "authorization" in allowed.headers["Access-Control-Allow-Headers"].lower()

        refused = await client.options("/api/patients/", headers=preflight("https://evil.example"))
        assert refused.status_code == 400  # Starlette's CORSMiddleware
        assert refused.text == "Disallowed CORS origin"
        assert "Access-Control-Allow-Origin" not in refused.headers

        simple = await client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in simple.headers
        simple = await client.get("/healthz", headers={"Origin": ALLOWED_ORIGIN})
        assert simple.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


async def test_cors_lets_a_browser_send_and_read_the_conditional_and_retry_headers(app_client):
    sent = "authorization, content-type, if-match, idempotency-key, x-request-id"
    async with app_client(cors_origins=[ALLOWED_ORIGIN]) as client:
        allowed = await client.options(
            "/api/patients/",
            headers={**preflight(ALLOWED_ORIGIN), "Access-Control-Request-Headers": sent},
        )
        assert allowed.status_code == 200, allowed.text
        allowed_headers = allowed.headers["Access-Control-Allow-Headers"].lower()
        assert all(header in allowed_headers for header in sent.split(", "))

        answer = await client.get("/healthz", headers={"Origin": ALLOWED_ORIGIN})
        exposed = {
            h.strip().lower() for h in answer.headers["Access-Control-Expose-Headers"].split(",")
        }
        assert exposed == {"etag", "idempotent-replayed", "retry-after", "x-request-id"}

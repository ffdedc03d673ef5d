"""Health, readiness, docs served offline, and the contract's bodies for HTTP errors."""

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.auth.tokens import Tokens
from app.core.config import Settings
from app.main import create_app
from tests.factories import patient_payload


async def test_healthz(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_when_database_is_up(client):
    response = await client.get("/readyz")
    assert response.status_code == 200


@pytest.fixture
async def unreachable_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app pointed at a port where no PostgreSQL listens."""
    broken = settings.model_copy(
        update={
            "database_url": "postgresql+asyncpg://nobody@127.0.0.1:1/none",
            "db_connect_timeout": 1.0,
        }
    )
    application = create_app(broken)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        token = Tokens(broken).create(kind="staff", subject="1", session=str(uuid.uuid4()))
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            yield client


async def test_readyz_is_503_when_database_is_unreachable(unreachable_client):
    response = await unreachable_client.get("/readyz")
    assert response.status_code == 503
    assert set(response.json()) == {"detail"}
    assert (await unreachable_client.get("/healthz")).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/patients/"), ("POST", "/api/patients/")]
)
async def test_api_is_503_not_500_when_database_is_unreachable(unreachable_client, method, path):
    response = await unreachable_client.request(method, path, json=patient_payload())
    assert response.status_code == 503
    assert set(response.json()) == {"detail"}
    assert "Traceback" not in response.text


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_render_without_internet(client, page):
    response = await client.get(page)
    assert response.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', response.text)
    assert assets, "the page loads no script or stylesheet"
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served by the service itself"
        served = await client.get(asset)
        assert served.status_code == 200
        assert len(served.content) > 1000


ERROR_DETAIL = "#/components/schemas/ErrorDetail"


async def test_openapi_documents_contract_errors_not_422(client):
    schema = (await client.get("/openapi.json")).json()
    assert schema["openapi"].startswith("3.")
    operations = [op for path in schema["paths"].values() for op in path.values()]
    # The only 422 is a reused Idempotency-Key, with the contract's body; never FastAPI's.
    unprocessable = [op["responses"]["422"] for op in operations if "422" in op["responses"]]
    assert all(
        response["content"]["application/json"]["schema"] == {"$ref": ERROR_DETAIL}
        for response in unprocessable
    )
    assert unprocessable  # the check above read some
    create = schema["paths"]["/api/patients/"]["post"]
    assert sorted(create["responses"]) == [
        "201", "400", "401", "403", "409", "413", "415", "422", "429", "503"
    ]  # fmt: skip
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    get_one = schema["paths"]["/api/patients/{patient_id}/"]["get"]
    assert sorted(get_one["responses"]) == ["200", "401", "403", "404", "429", "503"]


async def test_openapi_lists_every_endpoint_of_the_contract(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths["/api/patients/"]) == {"get", "post"}
    assert set(paths["/api/patients/{patient_id}/"]) == {"get", "put", "patch", "delete"}
    for name in ("add_tag", "remove_tag", "add_session", "update_wallet"):
        assert set(paths[f"/api/patients/{{patient_id}}/{name}/"]) == {"post"}


async def test_unknown_path_is_drf_404(client):
    response = await client.get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


async def test_unknown_patient_is_404(client):
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = await client.request(method, "/api/patients/p_zzzzzz/", json=patient_payload())
        assert response.status_code == 404, method
        assert response.json() == {"detail": "Not found."}


async def test_wrong_method_is_drf_405(client):
    response = await client.put("/api/patients/", json={})
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PUT" not allowed.'}
    assert "GET" in response.headers["allow"]


async def test_missing_trailing_slash_redirects_to_the_canonical_url(client):
    response = await client.get("/api/patients")
    assert response.status_code == 307  # Starlette's redirect_slashes: the method is kept
    assert response.headers["location"] == "http://testserver/api/patients/"


async def test_malformed_json_is_a_parse_error(client):
    response = await client.post(
        "/api/patients/", content=b'{"first_name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - ")


async def test_non_json_body_is_415(client):
    response = await client.post(
        "/api/patients/", content=b"first_name=x", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert set(response.json()) == {"detail"}


async def test_json_that_is_not_an_object_is_a_non_field_error(client):
    response = await client.post("/api/patients/", json=["not", "an", "object"])
    assert response.status_code == 400
    assert list(response.json()) == ["non_field_errors"]


async def test_an_unexpected_error_is_a_bare_500(settings, caplog):
    application: FastAPI = create_app(settings)
    secret = "123-45-6789"

    @application.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"leaking {secret}")

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "A server error occurred."}
    assert secret not in caplog.text
    assert "RuntimeError" in caplog.text


@pytest.mark.parametrize("patient_id", ["p_%00abcd", "x" * 300, "p_ABCDEF", "p_abc12%27"])
async def test_ids_that_cannot_exist_are_404(client, patient_id):
    for method in ("GET", "DELETE"):
        response = await client.request(method, f"/api/patients/{patient_id}/")
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}


async def test_credentials_are_checked_before_the_body_is_parsed(anonymous):
    response = await anonymous.post(
        "/api/patients/", content=b'{"first_name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 401

"""Every GET endpoint answers HEAD (app.core.routing.ServiceRoute), as DRF does: the GET's status
and headers, no body; a method of the GET's route, not a route of its own, and not a second
operation in the OpenAPI document. A 405 lists every method of the path."""

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from app.main import create_app
from tests.factories import create_patient

# Answers that change between two requests: the audit trail records each request, the metrics
# count them.
VOLATILE = {"/api/audit/", "/metrics"}
PER_REQUEST = {"date", "x-request-id"}


def get_paths() -> list[str]:
    # At collection, before the session's app: create_app sets the process's keyring.
    app = create_app()
    return sorted(
        {
            context.path_format
            for context in iter_route_contexts(app.routes)
            if context.methods and "GET" in context.methods and context.path_format
        }
    )


def test_every_get_endpoint_has_head_on_the_same_route(app: FastAPI):
    methods = [(c.path_format, c.methods or set()) for c in iter_route_contexts(app.routes)]
    gets = [path for path, answers in methods if "GET" in answers]
    assert len(gets) > 30
    assert [path for path, answers in methods if ("GET" in answers) != ("HEAD" in answers)] == []


def test_the_openapi_document_has_no_head_operations(app: FastAPI):
    document = app.openapi()
    methods = [method for path in document["paths"].values() for method in path]
    assert "get" in methods
    assert "head" not in methods
    ids = [op["operationId"] for path in document["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))


@pytest.fixture
async def ids(client: httpx.AsyncClient) -> dict[str, str]:
    """Path parameters naming real objects where one is cheap to make; unknown ones else."""
    patient = await create_patient(client)
    return {"patient_id": patient["id"], "version": "1", "secret": "x" * 43}


def concrete(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: ids.get(match[1], "1"), path)


@pytest.mark.parametrize("path", get_paths())
async def test_head_answers_as_get_without_a_body(client, ids, path):
    url = concrete(path, ids)
    head = await client.head(url)
    got = await client.get(url)
    assert head.status_code == got.status_code, (url, got.text)
    assert head.content == b""
    ignored = PER_REQUEST | ({"content-length", "etag"} if path in VOLATILE else set())
    head_headers = {k: v for k, v in head.headers.items() if k not in ignored}
    get_headers = {k: v for k, v in got.headers.items() if k not in ignored}
    assert head_headers == get_headers
    if got.content and path not in VOLATILE:
        assert int(head.headers["content-length"]) == len(got.content)


async def test_head_of_a_patient_is_a_200_with_its_etag(client, ids):
    url = f"/api/patients/{ids['patient_id']}/"
    head = await client.head(url)
    assert head.status_code == 200
    assert head.headers["etag"] == (await client.get(url)).headers["etag"]


async def test_head_needs_the_same_credentials(anonymous, ids):
    head = await anonymous.head(f"/api/patients/{ids['patient_id']}/")
    assert head.status_code == 401
    assert head.headers["www-authenticate"] == "Bearer"


async def test_a_405_lists_every_method_of_the_path(client, ids):
    answer = await client.post(f"/api/patients/{ids['patient_id']}/")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "DELETE, GET, HEAD, PATCH, PUT"
    assert answer.json() == {"detail": 'Method "POST" not allowed.'}
    answer = await client.delete("/healthz")
    assert (answer.status_code, answer.headers["allow"]) == (405, "GET, HEAD")

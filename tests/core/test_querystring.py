"""QueryModel: a query string validated as one model, documented as FastAPI documents a Query()
model."""

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Query
from pydantic import Field

from app.audit.schemas import AuditQuery
from app.core.errors import install_error_handlers
from app.core.openapi import install_openapi
from app.core.pagination import PageQuery
from app.core.querystring import QueryModel, query_parameters
from app.core.routing import DeferredJSONRoute
from app.core.schemas import BaseSchema
from app.patients.schemas import PatientListQuery


class Filters(BaseSchema):
    word: str | None = Field(default=None, max_length=5, description="A word.")
    tag: list[str] = Field(default_factory=list)
    size: int = 3


FILTERS = QueryModel(Filters)


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/filters/")
    async def filters(query: Annotated[Filters, Depends(FILTERS)]) -> Filters:
        return query

    return app


async def _get(query: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(f"/filters/?{query}")


async def test_the_query_string_is_the_model():
    response = await _get("word=ann&tag=a&tag=b&size=7&unknown=1")
    assert response.status_code == 200
    assert response.json() == {"word": "ann", "tag": ["a", "b"], "size": 7}


async def test_absent_parameters_take_their_defaults():
    assert (await _get("")).json() == {"word": None, "tag": [], "size": 3}


async def test_a_parameter_that_breaks_its_rule_is_a_400_on_its_name():
    response = await _get("word=toolong&size=x")
    assert response.status_code == 400
    assert set(response.json()) == {"word", "size"}


@pytest.mark.parametrize("model", [Filters, PatientListQuery, AuditQuery, PageQuery])
def test_parameters_are_documented_as_fastapi_documents_a_query_model(model):
    app = FastAPI()

    @app.get("/")
    async def endpoint(query: Annotated[model, Query()]) -> None:  # type: ignore[valid-type]
        """FastAPI's own query model, for its document."""

    fastapi = app.openapi()["paths"]["/"]["get"]["parameters"]
    assert query_parameters(model) == fastapi


def test_the_route_class_documents_the_parameters_of_its_dependencies():
    app = FastAPI()
    app.router.route_class = DeferredJSONRoute

    @app.get("/")
    async def endpoint(query: Annotated[Filters, Depends(FILTERS)]) -> None:
        """An endpoint whose query model is a dependency (FastAPI alone would not know them)."""

    install_openapi(app)  # as the service's: a GET's HEAD is not an operation of its own
    assert app.openapi()["paths"]["/"]["get"]["parameters"] == query_parameters(Filters)

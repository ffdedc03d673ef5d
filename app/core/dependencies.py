"""The dependencies every domain's routes share, as Annotated aliases: what the app made at
start-up (settings, the database, the rate limiter), and a list's page."""

from typing import Annotated

from fastapi import Depends, Request

from app.core.config import Settings
from app.core.pagination import PageQuery, PageRequest
from app.core.querystring import query_parameters
from app.core.ratelimit import RateLimiter
from app.core.routing import check_body
from app.db.database import Database


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def _rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


def client_address(request: Request) -> str | None:
    """The client as both UIs name it: the audit trail records an unknown one as null (the
    column's "not known"), never a made-up word; a rate limit keys it as it needs."""
    return request.client.host if request.client else None


# The body's media type and JSON, for an endpoint with no caller (an endpoint's caller dependency
# checks them itself, once access is granted: app.auth.access); its route class must be
# DeferredJSONRoute.
JsonBody = Depends(check_body)
SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_database)]
RateLimiterDep = Annotated[RateLimiter, Depends(_rate_limiter)]


async def _page_request(request: Request) -> PageRequest:
    settings: Settings = request.app.state.settings
    params = request.query_params
    return PageRequest.parse(
        params.get("page"),
        params.get("page_size"),
        default_size=settings.page_size_default,
        max_size=settings.page_size_max,
        exact_count_limit=settings.list_exact_count_limit or None,
    )


_page_request.openapi_parameters = query_parameters(PageQuery)  # type: ignore[attr-defined]
PageRequestDep = Annotated[PageRequest, Depends(_page_request)]

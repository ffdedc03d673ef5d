"""The dependencies every domain's routes share, as Annotated aliases: what the app made at
start-up (settings, the database, the rate limiter), and the checks of a request's body."""

from typing import Annotated

from fastapi import Depends, Request

from app.core.config import Settings
from app.core.errors import ParseError, UnsupportedMediaType
from app.core.pagination import PageParam, PageRequest, PageSizeParam
from app.core.ratelimit import RateLimiter
from app.core.routing import JSON_ERROR_KEY
from app.core.urls import Links
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


async def _links(request: Request) -> Links:
    return Links(request)


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _json_body(request: Request) -> None:
    """A body that is not JSON is a 415, and malformed JSON a 400, as DRF's parsers answer."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        if (error := request.scope.get(JSON_ERROR_KEY)) is not None:
            raise ParseError(f"JSON parse error - {error}")
        return
    if media_type or await request.body():
        shown = media_type or "(none)"
        raise UnsupportedMediaType(f'Unsupported media type "{shown}" in request.')


async def _multipart_upload(request: Request) -> None:
    """415 for anything but a form upload (BodyLimitMiddleware has capped the body's size)."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        raise UnsupportedMediaType(f'Unsupported media type "{media_type or "(none)"}" in request.')


SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_database)]
RateLimiterDep = Annotated[RateLimiter, Depends(_rate_limiter)]
LinksDep = Annotated[Links, Depends(_links)]
JsonBody = Depends(_json_body)
MultipartUpload = Depends(_multipart_upload)


async def _page_request(
    settings: SettingsDep, page: PageParam = None, page_size: PageSizeParam = None
) -> PageRequest:
    return PageRequest.parse(
        page,
        page_size,
        default_size=settings.page_size_default,
        max_size=settings.page_size_max,
        exact_count_limit=settings.list_exact_count_limit or None,
    )


PageRequestDep = Annotated[PageRequest, Depends(_page_request)]

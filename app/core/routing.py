"""Routes that check credentials before they complain about a request's body, as DRF does: the
body's media type and JSON syntax are checked by `check_body`, which the caller's dependency
calls once access is granted (app.auth.access)."""

import json
import sys
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response, params
from fastapi.routing import APIRoute

from app.core.errors import ParseError, UnsupportedMediaType
from app.core.fields import JsonNumber

JSON_ERROR_KEY = "therapyconnect.json_error"
NESTING_TOO_DEEP = "Arrays and objects are nested too deeply."
FORM = "multipart/form-data"


def _integer(literal: str) -> int | Decimal:
    # Past Python's limit of digits for int(), the number is kept as a Decimal: the field's own
    # rule refuses it in its words ("less than or equal to …"), not the interpreter's.
    return int(literal) if len(literal) <= sys.get_int_max_str_digits() else Decimal(literal)


def parse_json(body: bytes) -> Any:
    """A request's JSON: a fraction or exponent keeps its literal (app.core.fields.JsonNumber),
    and an integer of any length parses."""
    return json.loads(body, parse_int=_integer, parse_float=JsonNumber)


class _DeferredJSONRequest(Request):
    async def json(self) -> Any:
        try:
            if not hasattr(self, "_json"):
                self._json = parse_json(await self.body())
            return self._json
        except ValueError as error:  # JSONDecodeError, or a body that is not UTF-8
            # Parsed as {} for now; check_body reports it once access is checked.
            self.scope[JSON_ERROR_KEY] = str(error)
        except RecursionError:  # thousands of nested arrays or objects
            self.scope[JSON_ERROR_KEY] = NESTING_TOO_DEEP
        return {}


class ServiceRoute(APIRoute):
    """An endpoint of the service: a GET answers HEAD too, as DRF does, with the GET's status
    and headers (the server sends no body for a HEAD: uvicorn, and httpx's ASGITransport). A
    method of the GET's route rather than a route of its own: each route a request is matched
    against costs it time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        answer_head(self)


def answer_head(route: APIRoute) -> None:
    if route.methods and "GET" in route.methods:
        route.methods.add("HEAD")


class DeferredJSONRoute(ServiceRoute):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.body_field
        # The media type the endpoint's body must have: a form upload, JSON, or none at all.
        self.body_media: str | None = None
        if field is not None:
            self.body_media = FORM if isinstance(field.field_info, params.Form) else "json"
        # Parameters that dependencies read from the request themselves (app.core.querystring).
        documented = [
            parameter
            for dependency in self.dependant.dependencies
            for parameter in getattr(dependency.call, "openapi_parameters", ())
        ]
        if documented:
            extra = dict(self.openapi_extra or {})
            extra["parameters"] = [*extra.get("parameters", ()), *documented]
            self.openapi_extra = extra

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def deferred(request: Request) -> Response:
            return await handler(_DeferredJSONRequest(request.scope, request.receive))

        return deferred


def _unsupported(media_type: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(f'Unsupported media type "{media_type or "(none)"}" in request.')


async def check_body(request: Request) -> None:
    """The body's media type against the endpoint's (a 415, as DRF's parsers answer; a request
    with no body and no media type passes, its payload's validation answers), then malformed
    JSON (a 400)."""
    media = getattr(request.scope.get("route"), "body_media", None)
    if media is None:
        return
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media == FORM:
        if media_type != FORM:
            raise _unsupported(media_type)
        return
    if media_type == "application/json" or media_type.endswith("+json"):
        if (error := request.scope.get(JSON_ERROR_KEY)) is not None:
            raise ParseError(f"JSON parse error - {error}")
        return
    if media_type or await request.body():
        raise _unsupported(media_type)

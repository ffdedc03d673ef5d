"""Routes that check credentials before they complain about a malformed body, as DRF does."""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

JSON_ERROR_KEY = "therapyconnect.json_error"
NESTING_TOO_DEEP = "Arrays and objects are nested too deeply."


class _DeferredJSONRequest(Request):
    async def json(self) -> Any:
        try:
            return await super().json()
        except ValueError as error:  # JSONDecodeError, or a body that is not UTF-8
            # Parsed as {} for now; the JsonBody dependency reports it once access is checked.
            self.scope[JSON_ERROR_KEY] = str(error)
        except RecursionError:  # thousands of nested arrays or objects
            self.scope[JSON_ERROR_KEY] = NESTING_TOO_DEEP
        return {}


class DeferredJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def deferred(request: Request) -> Response:
            return await handler(_DeferredJSONRequest(request.scope, request.receive))

        return deferred

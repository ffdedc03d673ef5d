"""What the OpenAPI document says about errors: the contract's bodies, not FastAPI's 422."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field, RootModel


class ErrorDetail(BaseModel):
    detail: str = Field(examples=["Not found."])


class FieldErrors(RootModel[dict[str, list[str]]]):
    """Messages by field name; errors not tied to a field are under `non_field_errors`."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"phone_no": ["Phone number must be 9-15 digits, optionally starting with +."]}
            ]
        }
    }


class BadRequest(RootModel[FieldErrors | ErrorDetail]):
    """Messages by field, or a `detail` for a body that could not be parsed at all."""


_DESCRIPTIONS = {
    400: "Invalid input or a uniqueness conflict (malformed JSON: `JSON parse error - …`).",
    401: "No or bad credentials.",
    403: "Authenticated but not allowed.",
    404: "Unknown patient, path or page.",
    405: "Method not allowed.",
    409: "A request with this Idempotency-Key is still being processed.",
    412: "If-Match does not match the patient's current ETag.",
    413: "Request body too large.",
    415: "Unsupported media type.",
    422: "This Idempotency-Key was already used for a different request.",
    429: "Throttled.",
    503: "The database is unreachable.",
}


_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": "The scheme to authenticate with.",
            "schema": {"type": "string", "pattern": "^Bearer", "examples": ["Bearer"]},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds until a request will be accepted again.",
            "schema": {"type": "string", "pattern": "^[0-9]+$", "examples": ["42"]},
        }
    },
}


def _response(code: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "model": BadRequest if code == 400 else ErrorDetail,
        "description": _DESCRIPTIONS[code],
    }
    if code in _HEADERS:
        response["headers"] = {
            name: {"required": True, **header} for name, header in _HEADERS[code].items()
        }
    return response


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry documenting these error statuses (with their headers)."""
    return {code: _response(code) for code in statuses}


def _is_fastapi_validation_error(response: dict[str, Any] | None) -> bool:
    """FastAPI's own 422, as opposed to one a route documents (a reused Idempotency-Key)."""
    schema = (response or {}).get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    responses = operation.get("responses", {})
                    if _is_fastapi_validation_error(responses.get("422")):
                        del responses["422"]  # never sent: invalid input is a 400
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

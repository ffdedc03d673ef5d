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


_DESCRIPTIONS = {
    400: "Invalid input or a uniqueness conflict (malformed JSON: `JSON parse error - …`).",
    401: "No or bad credentials.",
    403: "Authenticated but not allowed.",
    404: "Unknown patient, path or page.",
    405: "Method not allowed.",
    413: "Request body too large.",
    415: "Unsupported media type.",
    429: "Throttled.",
    503: "The database is unreachable.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry documenting these error statuses."""
    return {
        code: {
            "model": FieldErrors if code == 400 else ErrorDetail,
            "description": _DESCRIPTIONS[code],
        }
        for code in statuses
    }


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
                    operation.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

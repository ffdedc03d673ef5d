"""The OpenAPI document: tags, contact, and the error responses in the contract's bodies (not
FastAPI's 422), each with an example, so that a client generated from it is complete."""

import warnings
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field, RootModel

OPENAPI_TAGS: list[dict[str, Any]] = [
    {
        "name": "patients",
        "description": "Patient records: contact and medical details, tags, therapy sessions "
        "and the wallet. Writes honour `If-Match`; POSTs accept an `Idempotency-Key`.",
    },
    {
        "name": "patient history",
        "description": "Every change of a patient's record, kept as a version (who, when, why, "
        "which fields); restoring a version; deleted patients kept for "
        "`PATIENT_RETENTION_DAYS`, restored by admins, then purged.",
    },
    {
        "name": "profile picture",
        "description": "A patient's picture, decoded and re-encoded (no metadata survives).",
    },
    {
        "name": "auth",
        "description": "Bearer tokens from the OAuth2 password flow, for staff and patients.",
    },
    {
        "name": "therapists",
        "description": "Therapists as a bookable resource: their weekly hours in the clinic's "
        "time zone, their time off, and the free slots left for booking.",
    },
    {
        "name": "appointments",
        "description": "Appointments and recurring series. PostgreSQL keeps a therapist's, and "
        "a patient's, active appointments from overlapping: a clash is a 409 naming the other "
        "appointment. Writes honour `If-Match`; POSTs accept an `Idempotency-Key`.",
    },
    {
        "name": "progress notes",
        "description": "An appointment's progress notes (SOAP, DAP or BIRP), encrypted at rest: "
        "a draft until its author signs it, then locked; corrections are signed addenda. A "
        "patient reads their own signed notes unless withheld.",
    },
    {
        "name": "psychotherapy notes",
        "description": "Psychotherapy notes (45 CFR 164.501), apart from the record: readable by "
        "their author alone, disclosed only under an unexpired authorization (164.508).",
    },
    {
        "name": "calendars",
        "description": "A therapist's appointments as an iCalendar feed behind a secret URL, "
        "for their own calendar app; a new secret revokes the old.",
    },
    {
        "name": "documents",
        "description": "A patient's PDFs and images (consent forms, referrals, intake "
        "questionnaires): sniffed, encrypted at rest, downloaded as attachments; a withheld "
        "document is hidden from its patient.",
    },
    {
        "name": "payments",
        "description": "What the practice bills: billable services (a code such as CPT 90834, "
        "a name, a duration and a price in the one `CURRENCY`), read by staff, kept by admins; "
        "a deleted service is kept for the invoices that name it. A patient's sliding scale "
        "(the percent of a price they pay), set by staff.",
    },
    {
        "name": "invoices",
        "description": "Invoices as Stripe models them (`draft`, `open`, `paid`, `void`, "
        "`uncollectible`): issued when an appointment is fulfilled or charged a fee, or written "
        "by staff and issued by admins; numbered per year with no gap; what is due is a sum over "
        "the ledger.",
    },
    {
        "name": "statements",
        "description": "A patient's statement of a period (its invoices, payments, refunds and "
        "balances) and superbill (the practice, the diagnosis codes, each session with its "
        "therapist's NPI, fee and what was paid), as JSON or as a PDF (`?format=pdf` or "
        "`Accept: application/pdf`); the patient's ICD-10-CM diagnosis codes, encrypted at "
        "rest.",
    },
    {
        "name": "measures",
        "description": "Measurement-based care: standard questionnaires (PHQ-9, GAD-7) defined "
        "as data, assigned to patients, answered or administered in session, scored by the "
        "service, charted over time and exported as FHIR R4; a safety rule met (PHQ-9 item 9 "
        "above 0) raises an alert that cannot be lost. This is not a crisis service.",
    },
    {"name": "audit", "description": "The append-only audit trail of reads, writes and logins."},
    {"name": "health", "description": "Liveness and readiness probes; no token needed."},
]

CONTACT = {"name": "TherapyConnect patient service maintainers"}

# Relative: the document describes the server that serves it.
SERVERS = [{"url": "/", "description": "The server this document is served from."}]


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


class Status(BaseModel):
    """The answer of a health probe that passed."""

    model_config = {"json_schema_extra": {"examples": [{"status": "ok"}]}}

    status: Literal["ok"]


# Any endpoint that needs a token: no or bad token, a role that may not, throttled, the database
# unavailable.
COMMON_ERRORS = (401, 403, 429, 503)
# Any JSON body: invalid or malformed, too large, not JSON.
BODY_ERRORS = (400, 413, 415)

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
    429: "Throttled: the caller's account (all its tokens together) is past API_RATE_LIMIT, or a "
    "login or password-reset limit is reached. Retry after `Retry-After`.",
    502: "The payment processor did not complete the request; nothing was recorded here.",
    503: "The database is unavailable for now; nothing was changed. Retry after `Retry-After`.",
}

_EXAMPLES: dict[int, dict[str, Any]] = {
    400: {"phone_no": ["Phone number must be 9-15 digits, optionally starting with +."]},
    401: {"detail": "Authentication credentials were not provided."},
    403: {"detail": "You do not have permission to perform this action."},
    404: {"detail": "Not found."},
    405: {"detail": 'Method "PUT" not allowed.'},
    409: {"detail": "A request with this Idempotency-Key is still being processed; retry later."},
    502: {"detail": "The payment processor did not complete the request."},
    412: {
        "detail": "The patient has changed since you read it: "
        "If-Match does not match its current ETag."
    },
    413: {"detail": "Request body is larger than the limit of 256 KB."},
    415: {"detail": 'Unsupported media type "text/plain" in request.'},
    422: {"detail": "This Idempotency-Key was already used for a different request."},
    429: {"detail": "Request was throttled. Expected available in 42 seconds."},
    503: {"detail": "Service temporarily unavailable, try again later."},
}


def _retry_after(description: str, example: str) -> dict[str, dict[str, Any]]:
    return {
        "Retry-After": {
            "description": description,
            "schema": {"type": "string", "pattern": "^[0-9]+$", "examples": [example]},
        }
    }


_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": "The scheme to authenticate with.",
            "schema": {"type": "string", "pattern": "^Bearer", "examples": ["Bearer"]},
        }
    },
    409: _retry_after("Seconds to wait before retrying.", "1"),
    429: _retry_after("Seconds until a request will be accepted again.", "42"),
    503: _retry_after("Seconds to wait before trying again.", "5"),
}


def _response(code: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "model": BadRequest if code == 400 else ErrorDetail,
        "description": _DESCRIPTIONS[code],
        "content": {"application/json": {"example": _EXAMPLES[code]}},
    }
    if code in _HEADERS:
        response["headers"] = {
            name: {"required": True, **header} for name, header in _HEADERS[code].items()
        }
    return response


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry documenting these error statuses (with their headers)."""
    return {code: _response(code) for code in statuses}


def ok_example(example: Any, description: str | None = None) -> dict[int | str, dict[str, Any]]:
    """A `responses=` entry giving a 200 response an example (and a description)."""
    response: dict[str, Any] = {"content": {"application/json": {"example": example}}}
    if description:
        response["description"] = description
    return {200: response}


def tagged(status: int = 200, resource: str = "patient") -> dict[int | str, dict[str, Any]]:
    """A `responses=` entry stating the resource's ETag header on a success response."""
    etag = {
        "description": f"The {resource}'s version, for `If-Match` on a later write.",
        "schema": {"type": "string", "examples": ['"1042"']},
    }
    return {status: {"headers": {"ETag": etag}}}


REQUEST_ID_HEADER = {
    "required": True,
    "description": "The request's id in the service's logs: the caller's own `X-Request-ID` "
    "(1-128 printable characters), or one the service made.",
    "schema": {"type": "string", "examples": ["3f2b8c1d9e6a4b7f8c2d1e0f9a8b7c6d"]},
}


def _is_fastapi_validation_error(response: dict[str, Any] | None) -> bool:
    """FastAPI's own 422, as opposed to one a route documents (a reused Idempotency-Key)."""
    schema = (response or {}).get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            with warnings.catch_warnings():
                # A GET's HEAD (app.core.routing.ServiceRoute) repeats its operation: dropped.
                warnings.filterwarnings("ignore", "Duplicate Operation ID", UserWarning)
                schema = get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                    tags=app.openapi_tags,
                    servers=app.servers,
                    contact=app.contact,
                    license_info=app.license_info,
                )
            for path in schema.get("paths", {}).values():
                # HEAD is HTTP's (RFC 9110, 9.3.2), not an operation of its own: a client
                # generated from the document would get a second method for every GET.
                path.pop("head", None)
                for operation in path.values():
                    responses = operation.get("responses", {})
                    if _is_fastapi_validation_error(responses.get("422")):
                        del responses["422"]  # never sent: invalid input is a 400
                    for response in responses.values():
                        response.setdefault("headers", {})["X-Request-ID"] = REQUEST_ID_HEADER
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

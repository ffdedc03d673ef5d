"""The OpenAPI document is complete enough to generate a client from (clients/typescript, `make
client`): every operation named, summarised, tagged, with examples that keep to their schemas, and
every error it may answer described in the contract's bodies."""

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import jsonschema_rs
import pytest
from fastapi import FastAPI

from app import __version__

Document = dict[str, Any]
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
OPERATION_ID = r"^[a-z][a-z0-9_]*$"
DOCUMENT_URI = "urn:openapi"
# Any endpoint that needs a token: none or a bad one, a role that may not, throttled, and the
# database unavailable; any JSON body: invalid or malformed, too large, not JSON.
AUTHENTICATED_ERRORS = {"401", "403", "429", "503"}
# Every signed-in caller may end their own session: no role is refused there.
OPEN_TO_EVERY_CALLER = {("POST", "/api/auth/logout/")}
BODY_ERRORS = {"400", "413", "415"}


@pytest.fixture(scope="module")
def document(app: FastAPI) -> Document:
    return app.openapi()


def operations(document: Document) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def resolve(document: Document, schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def media_examples(media: dict[str, Any]) -> list[Any]:
    return ([media["example"]] if "example" in media else []) + [
        example["value"] for example in media.get("examples", {}).values() if "value" in example
    ]


def has_example(document: Document, media: dict[str, Any]) -> bool:
    return bool(media_examples(media) or resolve(document, media.get("schema", {})).get("examples"))


def validator(registry: jsonschema_rs.Registry, *pointer: str) -> jsonschema_rs.Validator:
    """A validator of the schema at this JSON pointer of the document in the registry; its $refs
    resolve in it."""
    escaped = "/".join(part.replace("~", "~0").replace("/", "~1") for part in pointer)
    return jsonschema_rs.validator_for(
        {"$ref": f"{DOCUMENT_URI}#/{quote(escaped, safe='/~')}"},
        registry=registry,
        validate_formats=True,
    )


def assert_valid(check: jsonschema_rs.Validator, example: Any, where: object) -> None:
    errors = [f"{error.message} at {error.instance_path}" for error in check.iter_errors(example)]
    assert not errors, (where, errors)


def test_every_operation_has_an_id_a_summary_a_description_and_a_declared_tag(document):
    declared_tags = {tag["name"] for tag in document["tags"]}
    assert all(tag.get("description") for tag in document["tags"])
    for method, path, operation in operations(document):
        where = f"{method} {path}"
        assert operation.get("operationId"), where
        assert operation.get("summary"), where
        assert operation.get("description"), where
        assert operation.get("tags"), where
        assert set(operation["tags"]) <= declared_tags, where


def test_operation_ids_are_unique_and_readable(document):
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids)), sorted(ids)
    pattern = jsonschema_rs.validator_for({"type": "string", "pattern": OPERATION_ID})
    for operation_id in ids:
        assert pattern.is_valid(operation_id), operation_id
    assert {"list_patients", "create_patient", "get_patient", "login"} <= set(ids)


def test_every_success_response_has_an_example(document):
    for method, path, operation in operations(document):
        successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        assert successes, f"{method} {path}"
        for code, response in successes.items():
            where = f"{method} {path} {code}"
            assert response.get("description"), where
            content = response.get("content", {})
            if code == "204":
                assert not content, where
                continue
            assert content, where
            for media_type, media in content.items():
                if media_type.startswith("image/") or media_type == "application/pdf":
                    continue  # a picture's or a document's bytes: no example to show
                if media_type == "text/calendar":  # a calendar feed: its text as the example
                    assert media["example"].startswith("BEGIN:VCALENDAR"), where
                    continue
                assert media_type == "application/json", where
                assert "schema" in media, where
                assert has_example(document, media), where


def test_every_request_body_has_an_example(document):
    for method, path, operation in operations(document):
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            if media_type == "multipart/form-data":
                continue  # an image upload
            assert has_example(document, media), f"{method} {path} {media_type}"


def test_every_error_response_is_described_in_the_contracts_shape(document):
    bodies = {
        "#/components/schemas/ErrorDetail",
        "#/components/schemas/BadRequest",
        # An appointment's 409 names the appointment it overlaps (a series', each occurrence).
        "#/components/schemas/ConflictBody",
        "#/components/schemas/SeriesConflictBody",
    }
    for method, path, operation in operations(document):
        for code, response in operation["responses"].items():
            if code.startswith("2"):
                continue
            where = f"{method} {path} {code}"
            assert response.get("description"), where
            media = response["content"]["application/json"]
            assert media["schema"]["$ref"] in bodies, where
            assert media_examples(media), where
        documented = set(operation["responses"])
        if operation.get("security"):
            expected = AUTHENTICATED_ERRORS
            if (method, path) in OPEN_TO_EVERY_CALLER:
                expected = expected - {"403"}
                assert "403" not in documented, f"{method} {path}"
            assert documented >= expected, f"{method} {path}"
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            assert documented >= BODY_ERRORS, f"{method} {path}"


def test_throttling_and_unavailability_state_retry_after(document):
    for method, path, operation in operations(document):
        for code in ("429", "503"):
            if code in operation["responses"] and path != "/readyz":
                headers = operation["responses"][code].get("headers", {})
                assert headers.get("Retry-After", {}).get("required"), f"{method} {path} {code}"


def test_every_response_states_its_request_id(document):
    missing = [
        f"{method} {path} {status}"
        for method, path, operation in operations(document)
        for status, response in operation["responses"].items()
        if not response.get("headers", {}).get("X-Request-ID", {}).get("required")
    ]
    assert missing == []


def test_every_example_keeps_to_its_schema(document):
    """Spectral checks the examples of media types; these are all of them, schemas' too."""
    checked = 0
    registry = jsonschema_rs.Registry([(DOCUMENT_URI, document)])  # once: the document is large
    for name, schema in document["components"]["schemas"].items():
        check = validator(registry, "components", "schemas", name)
        for example in schema.get("examples", []):
            assert_valid(check, example, name)
            checked += 1
    for method, path, operation in operations(document):
        at = ("paths", path, method.lower())
        media_objects = [
            ((*at, "responses", code, "content", media_type), media)
            for code, response in operation["responses"].items()
            for media_type, media in response.get("content", {}).items()
        ] + [
            ((*at, "requestBody", "content", media_type), media)
            for media_type, media in operation.get("requestBody", {}).get("content", {}).items()
        ]
        for pointer, media in media_objects:
            if "schema" in media:
                check = validator(registry, *pointer, "schema")
                for example in media_examples(media):
                    assert_valid(check, example, pointer)
                    checked += 1
        for index, parameter in enumerate(operation.get("parameters", [])):
            check = validator(registry, *at, "parameters", str(index), "schema")
            for example in parameter["schema"].get("examples", []):
                assert_valid(check, example, (method, path, parameter["name"]))
                checked += 1
    assert checked > 40


def test_the_document_names_its_contact_servers_and_version(document):
    assert document["info"]["version"] == __version__
    assert document["info"]["contact"]["name"]
    assert [server["url"] for server in document["servers"]] == ["/"]


def test_the_admin_is_not_in_the_document(document):
    assert not [path for path in document["paths"] if path.startswith("/admin")]


async def test_the_served_document_is_the_one_the_client_is_generated_from(anonymous, document):
    served = (await anonymous.get("/openapi.json")).json()
    assert served == document

"""Every free-form string the API takes goes through a text rule of app/core/fields.py: a JSON body
field of every operation, the query filters. A control character or a lone surrogate is refused
on the field it was sent in, so no string reaches a column, a feed or a mail unchecked."""

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ValidationError

import app as package
from app.appointments.schemas import AppointmentListQuery
from app.audit.schemas import AuditQuery
from app.patients.schemas import PatientListQuery

# Secrets: any character a keyboard makes, but no lone surrogate or NUL.
PASSWORDS = {"password", "current_password", "new_password"}
# Only ever compared with known values; never stored.
NEVER_STORED = {"ordering"}
QUERY_MODELS = [PatientListQuery, AppointmentListQuery, AuditQuery]


def _models() -> dict[str, type[BaseModel]]:
    for module in pkgutil.walk_packages(package.__path__, "app."):
        importlib.import_module(module.name)

    def subclasses(cls: type[BaseModel]) -> Iterator[type[BaseModel]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    return {
        model.__name__: model
        for model in subclasses(BaseModel)
        if model.__module__.startswith("app.")
        and getattr(importlib.import_module(model.__module__), model.__name__, None) is model
    }


def _is_text(schema: dict[str, Any]) -> bool:
    variants = [v for v in schema.get("anyOf", [schema]) if v.get("type") != "null"]
    return any(
        v.get("type") == "string" and "enum" not in v and "const" not in v and "format" not in v
        for v in variants
    ) and not any(v.get("type") == "number" for v in variants)


def text_fields(application: FastAPI) -> list[tuple[type[BaseModel], str]]:
    document = application.openapi()
    names = {
        content["schema"]["$ref"].rpartition("/")[2]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "requestBody" in operation
        for media, content in operation["requestBody"]["content"].items()
        if media == "application/json"
    }
    models = _models()
    found: list[tuple[type[BaseModel], str]] = []
    for model in [models[name] for name in sorted(names)] + QUERY_MODELS:
        properties = model.model_json_schema()["properties"]
        for name, field in model.model_fields.items():
            key = field.alias or name
            if key in properties and _is_text(properties[key]) and name not in NEVER_STORED:
                found.append((model, key))
    return found


def _refused_on(model: type[BaseModel], key: str, value: str) -> bool:
    try:
        model.model_validate({key: value})
    except ValidationError as error:
        return any(key in e["loc"] for e in error.errors())
    return False


def test_the_text_fields_are_found(app):
    fields = {(model.__name__, key) for model, key in text_fields(app)}
    assert {
        ("NoteCreate", "withheld_reason"),
        ("TherapistUpdate", "display_name"),
        ("DocumentUpdate", "title"),
        ("PatientUpdate", "first_name"),
        ("SessionCreate", "notes"),
        ("PatientListQuery", "name"),
        ("AuditQuery", "actor"),
    } <= fields


@pytest.mark.parametrize("value", ["a\ud800b", "a\x00b", "a\x07b", "a\x1bb", "a\x7fb", "a\x9bb"])
def test_every_text_field_of_every_body_and_filter_refuses_it(app, value):
    unchecked = [
        f"{model.__name__}.{key}"
        for model, key in text_fields(app)
        if not (key in PASSWORDS and value[1] not in "\ud800\x00")
        and not _refused_on(model, key, value)
    ]
    assert unchecked == []

"""Examples for the OpenAPI document, in the contract's shapes: the docs show them, schemathesis
sends the request examples, and Spectral and tests/core/test_openapi.py
(test_every_example_keeps_to_its_schema) check them against their schemas. No value is None:
FastAPI leaves nulls out of the document, so a null in an example would silently drop a
required field."""

from typing import Any

SESSION_CREATE: dict[str, Any] = {
    "date": "2024-05-01T14:30:00Z",
    "duration_minutes": 50,
    "therapist": "Dr. Rivera",
    "notes": "Intake.",
}

SESSION: dict[str, Any] = {
    "id": "0b6f7c1e-5a2d-4c8e-9f3b-2d1a7e4c9b10",
    **SESSION_CREATE,
    "created_at": "2024-05-01T15:31:07.412000Z",
}

# The required fields: every patient example below is this one patient.
_REQUIRED: dict[str, Any] = {
    "first_name": "Jane",
    "last_name": "Doe",
    "phone_no": "+14155550123",
    "allergies_and_medication": "Penicillin",
    "date_of_birth": "1990-05-17",
    "sex": "F",
}

PATIENT_CREATE: dict[str, Any] = {
    "password": "correct-horse",
    **_REQUIRED,
    "email": "jane@example.com",
    "tags": ["anxiety"],
}

PATIENT_REPLACE: dict[str, Any] = {
    **_REQUIRED,
    "allergies_and_medication": "Penicillin; sertraline 50 mg daily",
    "email": "jane.doe@example.com",
    "address": "12 Main St, Springfield",
    "tags": ["anxiety", "insomnia"],
}

PATIENT_UPDATE: dict[str, Any] = {
    "address": "12 Main St, Springfield",
    "about_note": "Prefers mornings.",
}

PATIENT: dict[str, Any] = {
    "id": "p_zxcp0h",
    **_REQUIRED,
    "ssn": "123-45-6789",
    "email": "jane@example.com",
    "address": "12 Main St, Springfield",
    "added_note": "Referred by Dr. Okafor.",
    "about_note": "Prefers mornings.",
    "profile_picture": "http://127.0.0.1:8000/api/patients/p_zxcp0h/profile_picture/",
    "tags": ["anxiety"],
    "wallet_balance": "25.50",
    "sessions": [SESSION],
    "created_at": "2024-04-26T09:12:55.803349Z",
    "updated_at": "2024-05-01T15:31:07.412000Z",
}

TAG_ACTION: dict[str, Any] = {"tag": "anxiety"}

PATIENT_VERSION: dict[str, Any] = {
    "version": 1187,
    "url": "http://127.0.0.1:8000/api/patients/p_zxcp0h/history/1187/",
    "at": "2024-05-01T15:31:07.412000Z",
    "actor": "dr.rivera",
    "actor_kind": "staff",
    "action": "restored",
    "reason": "Edited by mistake.",
    "changed": ["address"],
    "restored_from": 1150,  # null unless a restore (FastAPI drops nulls from examples)
}

PATIENT_VERSION_DETAIL: dict[str, Any] = {
    **PATIENT_VERSION,
    "record": {
        **{name: value for name, value in PATIENT.items() if name in _REQUIRED},
        "ssn": "123-45-6789",
        "email": "jane@example.com",
        "address": "12 Main St, Springfield",
        "added_note": "Referred by Dr. Okafor.",
        "about_note": "Prefers mornings.",
        "has_profile_picture": True,
        "tags": ["anxiety"],
        "wallet_balance": "25.50",
        "sessions": [SESSION],
    },
    "changes": {"address": {"before": "4 Elm Rd, Springfield", "after": "12 Main St, Springfield"}},
}

DELETED_PATIENT: dict[str, Any] = {
    "id": "p_zxcp0h",
    "first_name": "Jane",
    "last_name": "Doe",
    "deleted_at": "2024-05-02T10:00:00Z",
    "purge_after": "2024-06-01T10:00:00Z",
}

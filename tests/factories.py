"""Valid request bodies, unique per call, for tests to change one field at a time."""

import itertools
from typing import Any

import httpx

_numbers = itertools.count(1)


def unique_phone() -> str:
    return f"+1415{next(_numbers):07d}"


def patient_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "password": "correct-horse",
        "first_name": "Jane",
        "last_name": "Doe",
        "phone_no": unique_phone(),
        "allergies_and_medication": "Penicillin",
        "date_of_birth": "1990-05-17",
        "sex": "F",
    }
    payload.update(overrides)
    return payload


async def create_patient(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/patients/", json=patient_payload(**overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body

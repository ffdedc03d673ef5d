"""Generated ids are random, match the contract's pattern, and a collision is drawn again."""

import re

import pytest

from app.patients import service as patient_service
from app.patients.repository import new_patient_id
from tests.factories import create_patient, patient_payload


def test_generated_ids_match_the_pattern_and_vary():
    ids = {new_patient_id() for _ in range(1000)}
    assert all(re.fullmatch(r"p_[a-z0-9]{6}", patient_id) for patient_id in ids)
    assert len(ids) > 990


async def test_a_colliding_generated_id_is_drawn_again(client, monkeypatch: pytest.MonkeyPatch):
    taken = await create_patient(client, id="p_taken1")
    draws = iter([taken["id"], taken["id"], "p_fresh1"])
    monkeypatch.setattr(patient_service, "new_patient_id", lambda: next(draws))

    created = await create_patient(client)
    assert created["id"] == "p_fresh1"


async def test_a_client_chosen_id_that_is_taken_is_a_400(client):
    await create_patient(client, id="p_taken2")
    response = await client.post("/api/patients/", json=patient_payload(id="p_taken2"))
    assert response.status_code == 400
    assert response.json() == {"id": ["A patient with this id already exists."]}

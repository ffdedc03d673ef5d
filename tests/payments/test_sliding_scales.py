"""A patient's sliding scale: set and replaced by staff, read by staff and the patient themself,
removed; percent and reason at their boundaries; a patient not there or deleted is a 404; each
call audited under its action, the reason kept out of the trail."""

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.core.fields import SINGLE_LINE_MESSAGE
from tests.factories import create_patient
from tests.requests.test_work import events

PASSWORD = "correct-horse"
NOT_FOUND = {"detail": "Not found."}
FORBIDDEN = {"detail": "You do not have permission to perform this action."}


def url(patient_id: str) -> str:
    return f"/api/patients/{patient_id}/sliding-scale/"


@pytest.fixture
async def patient(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create_patient(client, password=PASSWORD)


async def test_staff_set_read_replace_and_remove_a_scale(client, patient):
    path = url(patient["id"])

    assert (await client.get(path)).status_code == 404  # none: the full price
    created = await client.put(path, json={"percent": 60, "reason": "  Income-based.  "})

    assert created.status_code == 200, created.text
    scale = created.json()
    assert scale == {
        "patient": patient["id"],
        "percent": 60,
        "reason": "Income-based.",
        "set_by": "admin",
        "set_at": scale["set_at"],
    }
    assert (await client.get(path)).json() == scale
    replaced = await client.put(path, json={"percent": 80, "reason": "Income changed."})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == {
        **scale,
        "percent": 80,
        "reason": "Income changed.",
        "set_at": replaced.json()["set_at"],
    }
    assert replaced.json()["set_at"] > scale["set_at"]
    removed = await client.delete(path)
    assert (removed.status_code, removed.content) == (204, b"")
    assert (await client.get(path)).status_code == 404
    assert (await client.delete(path)).status_code == 404


async def test_a_therapist_sets_it_and_is_named(client, staff_client, patient):
    therapist = await staff_client("therapist", "therapist-scale")

    answer = await therapist.put(url(patient["id"]), json={"percent": 50, "reason": "Student."})

    assert answer.status_code == 200, answer.text
    assert answer.json()["set_by"] == "therapist-scale"
    assert (await therapist.get(url(patient["id"]))).json() == answer.json()
    assert (await therapist.delete(url(patient["id"]))).status_code == 204


async def test_a_patient_reads_their_own_and_changes_nothing(client, patient, patient_client):
    other = await create_patient(client)
    await client.put(url(patient["id"]), json={"percent": 60, "reason": "Income-based."})
    await client.put(url(other["id"]), json={"percent": 40, "reason": "Income-based."})
    own = await patient_client(patient["id"])

    read = await own.get(url(patient["id"]))

    assert read.status_code == 200
    assert read.json()["percent"] == 60
    for answer in (
        await own.get(url(other["id"])),
        await own.put(url(patient["id"]), json={"percent": 1, "reason": "Mine."}),
        await own.delete(url(patient["id"])),
    ):
        assert (answer.status_code, answer.json()) == (403, FORBIDDEN), answer.request.method
    assert (await client.get(url(patient["id"]))).json() == read.json()


async def test_nobody_signed_in_is_a_401(patient, anonymous):
    path = url(patient["id"])
    for answer in (
        await anonymous.get(path),
        await anonymous.put(path, json={"percent": 60, "reason": "Income-based."}),
        await anonymous.delete(path),
    ):
        assert answer.status_code == 401, answer.request.method


@pytest.mark.parametrize("percent", [1, 100])
async def test_percent_at_its_bounds(client, patient, percent):
    answer = await client.put(url(patient["id"]), json={"percent": percent, "reason": "Ok."})

    assert answer.status_code == 200, answer.text
    assert answer.json()["percent"] == percent


@pytest.mark.parametrize(
    "percent", [0, 101, -1, 60.5, "sixty", True, None], ids=lambda value: repr(value)
)
async def test_a_percent_out_of_range_or_not_an_integer_is_a_400(client, patient, percent):
    answer = await client.put(url(patient["id"]), json={"percent": percent, "reason": "Ok."})

    assert answer.status_code == 400
    assert list(answer.json()) == ["percent"]
    assert (await client.get(url(patient["id"]))).status_code == 404


@pytest.mark.parametrize("reason", ["x", "x" * 250])
async def test_a_reason_of_1_to_250_characters(client, patient, reason):
    answer = await client.put(url(patient["id"]), json={"percent": 60, "reason": reason})

    assert answer.status_code == 200, answer.text
    assert answer.json()["reason"] == reason


@pytest.mark.parametrize("reason", ["", "   ", "x" * 251, None, "two\nlines"])
async def test_a_reason_empty_too_long_or_of_two_lines_is_a_400(client, patient, reason):
    answer = await client.put(url(patient["id"]), json={"percent": 60, "reason": reason})

    assert answer.status_code == 400
    assert list(answer.json()) == ["reason"]
    if reason == "two\nlines":
        assert answer.json()["reason"][0].startswith(SINGLE_LINE_MESSAGE)


async def test_both_fields_are_required(client, patient):
    answer = await client.put(url(patient["id"]), json={})

    assert answer.status_code == 400
    assert set(answer.json()) == {"percent", "reason"}


async def test_a_patient_not_there_or_deleted_is_a_404(client, patient):
    await client.put(url(patient["id"]), json={"percent": 60, "reason": "Income-based."})
    assert (await client.delete(f"/api/patients/{patient['id']}/")).status_code == 204

    for path in (url(patient["id"]), url("p_000000")):
        for answer in (
            await client.get(path),
            await client.put(path, json={"percent": 60, "reason": "Income-based."}),
            await client.delete(path),
        ):
            assert (answer.status_code, answer.json()) == (404, NOT_FOUND), answer.request.method


async def test_a_scale_is_kept_in_its_own_table_not_in_the_patient(client, patient):
    read = (await client.get(f"/api/patients/{patient['id']}/")).json()

    await client.put(url(patient["id"]), json={"percent": 60, "reason": "Income-based."})

    assert (await client.get(f"/api/patients/{patient['id']}/")).json() == read


async def test_every_call_is_audited_under_its_action_without_the_reason(
    client, staff_client, patient, engine
):
    therapist = await staff_client("therapist")
    path = url(patient["id"])
    await client.get(path)
    await client.put(path, json={"percent": 60, "reason": "Secret reason text."})
    await therapist.get(path)
    await client.put(path, json={"percent": 0, "reason": "x"})
    await client.delete(path)
    await client.delete(path)

    trail = [event for event in await events(engine) if "sliding_scale" in event["action"]]

    assert [(e["action"], e["outcome"], e["status_code"]) for e in trail] == [
        ("get_sliding_scale", "not_found", 404),
        ("set_sliding_scale", "success", 200),
        ("get_sliding_scale", "success", 200),
        ("set_sliding_scale", "invalid", 400),
        ("delete_sliding_scale", "success", 204),
        ("delete_sliding_scale", "not_found", 404),
    ]
    assert {event["patient_id"] for event in trail} == {patient["id"]}
    async with engine.connect() as connection:
        mentions = await connection.scalar(
            text("SELECT count(*) FROM audit_events WHERE audit_events::text LIKE :reason"),
            {"reason": "%Secret reason%"},
        )
    assert mentions == 0

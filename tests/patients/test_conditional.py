"""ETags on patient responses; If-Match on PUT, PATCH, DELETE and the actions: a stale tag is a
412 and changes nothing; no If-Match keeps API.md's behaviour."""

import asyncio
from typing import Any

import httpx
import pytest

from tests.factories import create_patient, patient_payload

STALE = {
    "detail": "The patient has changed since you read it: If-Match does not match its current ETag."
}


def detail(patient_id: str, action: str | None = None) -> str:
    return f"/api/patients/{patient_id}/" + (f"{action}/" if action else "")


WRITES = [
    ("PUT", None, None),
    ("PATCH", None, {"first_name": "Janet"}),
    ("POST", "add_tag", {"tag": "anxiety"}),
    ("POST", "remove_tag", {"tag": "grief"}),
    ("POST", "add_session", {"date": "2024-05-01T14:30:00Z"}),
    ("POST", "update_wallet", {"amount": "2.00"}),
]


async def send(
    client: httpx.AsyncClient,
    method: str,
    patient_id: str,
    action: str | None,
    body: dict[str, Any] | None,
    **headers: str,
) -> httpx.Response:
    if method == "PUT" and body is None:
        body = {k: v for k, v in patient_payload().items() if k != "password"}
    return await client.request(method, detail(patient_id, action), json=body, headers=headers)


async def test_every_patient_response_carries_an_etag_that_changes_with_each_write(client):
    created = await client.post("/api/patients/", json=patient_payload(tags=["grief"]))
    tags = [created.headers["etag"]]
    pid = created.json()["id"]
    read = await client.get(detail(pid))
    assert read.headers["etag"] == tags[0]
    assert tags[0].startswith('"')
    assert tags[0].endswith('"')

    for method, action, body in WRITES:
        response = await send(client, method, pid, action, body)
        assert response.status_code == 200, (action, response.text)
        tags.append(response.headers["etag"])
        assert (await client.get(detail(pid))).headers["etag"] == tags[-1]

    assert len(set(tags)) == len(tags)


@pytest.mark.parametrize(("method", "action", "body"), WRITES)
async def test_current_tag_lets_the_write_through(client, method, action, body):
    patient = await create_patient(client, tags=["grief"])
    current = (await client.get(detail(patient["id"]))).headers["etag"]

    response = await send(client, method, patient["id"], action, body, **{"If-Match": current})

    assert response.status_code == 200, response.text
    assert response.headers["etag"] != current


@pytest.mark.parametrize(("method", "action", "body"), WRITES)
async def test_stale_tag_is_412_and_changes_nothing(client, method, action, body):
    patient = await create_patient(client, tags=["grief"])
    stale = (await client.get(detail(patient["id"]))).headers["etag"]
    await client.patch(detail(patient["id"]), json={"about_note": "moved on"})
    before = (await client.get(detail(patient["id"]))).json()

    response = await send(client, method, patient["id"], action, body, **{"If-Match": stale})

    assert response.status_code == 412
    assert response.json() == STALE
    assert (await client.get(detail(patient["id"]))).json() == before


async def test_stale_tag_on_delete_is_412_and_keeps_the_patient(client):
    patient = await create_patient(client)
    stale = (await client.get(detail(patient["id"]))).headers["etag"]
    await client.post(detail(patient["id"], "add_tag"), json={"tag": "x"})

    refused = await client.delete(detail(patient["id"]), headers={"If-Match": stale})
    assert refused.status_code == 412
    assert (await client.get(detail(patient["id"]))).status_code == 200

    current = (await client.get(detail(patient["id"]))).headers["etag"]
    assert (
        await client.delete(detail(patient["id"]), headers={"If-Match": current})
    ).status_code == 204


async def test_stale_tag_on_a_change_that_would_change_nothing_is_still_412(client):
    patient = await create_patient(client, tags=["grief"])
    stale = (await client.get(detail(patient["id"]))).headers["etag"]
    await client.patch(detail(patient["id"]), json={"about_note": "moved on"})

    for action, tag in (("add_tag", "grief"), ("remove_tag", "absent")):
        response = await client.post(
            detail(patient["id"], action), json={"tag": tag}, headers={"If-Match": stale}
        )
        assert response.status_code == 412
    empty_patch = await client.patch(detail(patient["id"]), json={}, headers={"If-Match": stale})
    assert empty_patch.status_code == 412


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("*", 200),
        ('"1", {current}', 200),
        ("W/{current}", 412),  # If-Match compares strongly: a weak tag never matches
        ('"not-a-version"', 412),
        ('"99999999999999999999999"', 412),
        ("garbage", 412),
        ("", 412),
    ],
)
async def test_if_match_forms(client, header, status):
    patient = await create_patient(client)
    current = (await client.get(detail(patient["id"]))).headers["etag"]
    response = await client.patch(
        detail(patient["id"]),
        json={"about_note": "x"},
        headers={"If-Match": header.format(current=current)},
    )
    assert response.status_code == status


async def test_unknown_patient_is_404_even_with_if_match(client):
    response = await client.patch(detail("p_zzzzzz"), json={}, headers={"If-Match": '"1"'})
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


async def test_validation_errors_come_before_the_precondition(client):
    patient = await create_patient(client)
    response = await client.post(
        detail(patient["id"], "update_wallet"), json={"amount": "0"}, headers={"If-Match": '"1"'}
    )
    assert response.status_code == 400


async def test_a_wallet_change_the_rules_refuse_reports_the_rule_with_a_current_tag(client):
    patient = await create_patient(client)
    current = (await client.get(detail(patient["id"]))).headers["etag"]
    response = await client.post(
        detail(patient["id"], "update_wallet"), json={"amount": "-1"}, headers={"If-Match": current}
    )
    assert response.status_code == 400
    assert list(response.json()) == ["amount"]


async def test_only_one_of_two_writers_with_the_same_tag_wins(client):
    patient = await create_patient(client)
    tag = (await client.get(detail(patient["id"]))).headers["etag"]

    first = await client.patch(
        detail(patient["id"]), json={"first_name": "A"}, headers={"If-Match": tag}
    )
    second = await client.patch(
        detail(patient["id"]), json={"first_name": "B"}, headers={"If-Match": tag}
    )

    assert (first.status_code, second.status_code) == (200, 412)
    assert (await client.get(detail(patient["id"]))).json()["first_name"] == "A"


async def test_of_many_concurrent_writers_with_the_same_tag_exactly_one_wins(client):
    patient = await create_patient(client)
    tag = (await client.get(detail(patient["id"]))).headers["etag"]

    responses = await asyncio.gather(
        *(
            client.post(
                detail(patient["id"], "update_wallet"),
                json={"amount": "1.00"},
                headers={"If-Match": tag},
            )
            for _ in range(20)
        )
    )

    assert sorted(r.status_code for r in responses) == [200] + [412] * 19
    assert (await client.get(detail(patient["id"]))).json()["wallet_balance"] == "1.00"

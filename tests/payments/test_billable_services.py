"""Billable services: read by staff, kept by admins, every field at its boundaries, a code unique
among the services not deleted, a deleted service kept but gone, pages by code, the audit trail,
and the currency of the settings."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.core.fields import AMOUNT_FORMAT, SINGLE_LINE_MESSAGE
from app.payments.schemas import CODE_FORMAT
from app.payments.service import CODE_TAKEN
from tests.factories import create_patient
from tests.requests.test_work import events

URL = "/api/billable-services/"
PATIENT_PASSWORD = "correct-horse"


def body(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "code": "90834",
        "name": "Psychotherapy, 45 minutes",
        "duration_minutes": 45,
        "price": "120.00",
    }
    values.update(overrides)
    return values


async def create(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    answer = await client.post(URL, json=body(**overrides))
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


@pytest.fixture
async def patient(app: FastAPI, client: httpx.AsyncClient, login: Any) -> Any:
    record = await create_patient(client, password=PATIENT_PASSWORD)
    token = await login(record["id"], PATIENT_PASSWORD)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token}"},
    ) as patient_client:
        yield patient_client


async def test_an_admin_adds_reads_changes_and_deletes_a_service(client):
    created = await client.post(URL, json=body())

    assert created.status_code == 201, created.text
    service = created.json()
    assert service == {
        "id": service["id"],
        "code": "90834",
        "name": "Psychotherapy, 45 minutes",
        "duration_minutes": 45,
        "price": "120.00",
        "currency": "USD",
        "created_at": service["created_at"],
        "updated_at": service["created_at"],
    }
    path = f"{URL}{service['id']}/"
    assert (await client.get(path)).json() == service
    changed = await client.patch(path, json={"price": 125, "name": "  Psychotherapy  "})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        **service,
        "price": "125.00",
        "name": "Psychotherapy",
        "updated_at": changed.json()["updated_at"],
    }
    assert changed.json()["updated_at"] > service["updated_at"]
    unchanged = await client.patch(path, json={})
    assert unchanged.status_code == 200
    assert unchanged.json() == changed.json()
    deleted = await client.delete(path)
    assert (deleted.status_code, deleted.content) == (204, b"")


async def test_a_therapist_reads_but_does_not_change(client, staff_client):
    service = await create(client)
    path = f"{URL}{service['id']}/"
    therapist = await staff_client("therapist")

    assert (await therapist.get(URL)).json()["results"] == [service]
    assert (await therapist.get(path)).json() == service
    forbidden = {"detail": "You do not have permission to perform this action."}
    for answer in (
        await therapist.post(URL, json=body(code="90837")),
        await therapist.patch(path, json={"price": "1.00"}),
        await therapist.delete(path),
    ):
        assert (answer.status_code, answer.json()) == (403, forbidden)
    assert (await client.get(path)).json() == service


async def test_a_patient_may_do_nothing(client, patient):
    service = await create(client)
    path = f"{URL}{service['id']}/"

    for answer in (
        await patient.get(URL),
        await patient.get(path),
        await patient.post(URL, json=body(code="90837")),
        await patient.patch(path, json={"price": "1.00"}),
        await patient.delete(path),
    ):
        assert answer.status_code == 403, answer.request.method


async def test_nobody_signed_in_is_a_401(client, anonymous):
    service = await create(client)
    path = f"{URL}{service['id']}/"

    for answer in (
        await anonymous.get(URL),
        await anonymous.get(path),
        await anonymous.post(URL, json=body(code="90837")),
        await anonymous.patch(path, json={"price": "1.00"}),
        await anonymous.delete(path),
    ):
        assert answer.status_code == 401, answer.request.method
        assert answer.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("code", "kept"),
    [
        ("9", "9"),
        ("A" * 16, "A" * 16),
        ("G0176-ab.1", "G0176-AB.1"),
        ("g0176", "G0176"),
        (" 90834\n", "90834"),
    ],
)
async def test_a_code_of_1_to_16_letters_digits_hyphens_and_dots(client, code, kept):
    assert (await create(client, code=code))["code"] == kept


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "This field may not be blank."),
        ("A" * 17, "Ensure this field has no more than 16 characters."),
        ("90 834", CODE_FORMAT),
        ("90_834", CODE_FORMAT),
        ("\uff19\uff10834", CODE_FORMAT),  # full-width digits
        ("90\t834", f"{SINGLE_LINE_MESSAGE}: U+0009."),
    ],
)
async def test_a_code_of_anything_else_is_a_400(client, code, message):
    answer = await client.post(URL, json=body(code=code))
    assert (answer.status_code, answer.json()) == (400, {"code": [message]})


@pytest.mark.parametrize(
    ("name", "status"),
    [("A", 201), ("A" * 100, 201), ("", 400), ("   ", 400), ("A" * 101, 400), ("a\nb", 400)],
)
async def test_a_name_is_one_line_of_1_to_100_characters(client, name, status):
    answer = await client.post(URL, json=body(name=name))
    assert answer.status_code == status, answer.text
    if status == 400:
        assert list(answer.json()) == ["name"]


@pytest.mark.parametrize(
    ("minutes", "status"), [(4, 400), (5, 201), (480, 201), (481, 400), (True, 400), ("45", 201)]
)
async def test_a_duration_is_5_to_480_minutes(client, minutes, status):
    answer = await client.post(URL, json=body(duration_minutes=minutes))
    assert answer.status_code == status, answer.text
    if status == 400:
        assert list(answer.json()) == ["duration_minutes"]


@pytest.mark.parametrize(
    ("price", "answered"),
    [("0", "0.00"), (0, "0.00"), ("0.5", "0.50"), ("99999999.99", "99999999.99"), (12.5, "12.50")],
)
async def test_a_price_is_0_to_the_wallets_maximum(client, price, answered):
    assert (await create(client, price=price))["price"] == answered


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ("-0.01", "Ensure this value is greater than or equal to 0."),
        ("100000000.00", "Ensure this value is less than or equal to 99999999.99."),
        ("1.005", "Ensure that there are no more than 2 decimal places."),
        ("1e3", AMOUNT_FORMAT),
        ("twelve", "A valid number is required."),
        (None, "This field may not be null."),
    ],
)
async def test_a_price_out_of_range_or_form_is_a_400(client, price, message):
    answer = await client.post(URL, json=body(price=price))
    assert (answer.status_code, answer.json()) == (400, {"price": [message]})


async def test_every_field_is_required_on_create_and_none_may_be_null_on_patch(client):
    answer = await client.post(URL, json={})
    assert answer.status_code == 400
    assert set(answer.json()) == {"code", "name", "duration_minutes", "price"}
    service = await create(client)
    nulled = await client.patch(f"{URL}{service['id']}/", json={"code": None, "name": None})
    assert nulled.status_code == 400
    assert nulled.json() == {
        "code": ["This field may not be null."],
        "name": ["This field may not be null."],
    }


async def test_a_code_names_one_service_not_deleted(client, engine):
    first = await create(client)
    second = await create(client, code="90837")

    again = await client.post(URL, json=body(name="Another"))
    assert (again.status_code, again.json()) == (400, {"code": [CODE_TAKEN]})
    lower = await create(client, code="g0176")
    upper = await client.post(URL, json=body(code="G0176", name="Another"))
    assert (lower["code"], upper.status_code, upper.json()) == (
        "G0176",
        400,
        {"code": [CODE_TAKEN]},
    )
    taken = await client.patch(f"{URL}{second['id']}/", json={"code": "90834"})
    assert (taken.status_code, taken.json()) == (400, {"code": [CODE_TAKEN]})
    assert (await client.get(f"{URL}{second['id']}/")).json() == second

    assert (await client.delete(f"{URL}{first['id']}/")).status_code == 204
    reused = await create(client, name="Psychotherapy, new price", price="130.00")
    assert reused["id"] != first["id"]
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT id, deleted_at IS NOT NULL FROM billable_services WHERE code = '90834'")
        )
        assert sorted(rows.all()) == [(first["id"], True), (reused["id"], False)]


async def test_a_deleted_service_is_kept_but_found_by_nothing(client):
    service = await create(client)
    path = f"{URL}{service['id']}/"
    assert (await client.delete(path)).status_code == 204

    not_found = {"detail": "Not found."}
    for answer in (
        await client.get(path),
        await client.patch(path, json={"price": "1.00"}),
        await client.delete(path),
    ):
        assert (answer.status_code, answer.json()) == (404, not_found)
    assert (await client.get(URL)).json()["count"] == 0
    assert (await client.get(f"{URL}99999999999/")).status_code == 404
    assert (await client.get(f"{URL}0/")).status_code == 404
    assert (await client.get(f"{URL}abc/")).status_code == 404


async def test_the_list_is_by_code_then_id_in_pages_and_filters_on_the_code(client):
    for code in ("90837", "90832", "G0176", "90834", "90791"):
        await create(client, code=code)

    first = await client.get(URL, params={"page_size": 2})
    assert first.status_code == 200
    page = first.json()
    assert page["count"] == 5
    assert [s["code"] for s in page["results"]] == ["90791", "90832"]
    assert page["previous"] is None
    assert page["next"] == "http://testserver/api/billable-services/?page_size=2&page=2"
    last = (await client.get(URL, params={"page": 3, "page_size": 2})).json()
    assert [s["code"] for s in last["results"]] == ["G0176"]
    assert last["next"] is None
    beyond = await client.get(URL, params={"page": 4, "page_size": 2})
    assert (beyond.status_code, beyond.json()) == (404, {"detail": "Invalid page."})

    found = (await client.get(URL, params={"code": "90834"})).json()
    assert [s["code"] for s in found["results"]] == ["90834"]
    assert (await client.get(URL, params={"code": "9083"})).json()["count"] == 0
    lower = (await client.get(URL, params={"code": "g0176"})).json()
    assert [s["code"] for s in lower["results"]] == ["G0176"]
    assert (await client.get(URL, params={"code": ""})).json()["count"] == 5
    bad = await client.get(URL, params={"code": "90 834"})
    assert (bad.status_code, bad.json()) == (400, {"code": [CODE_FORMAT]})


async def test_every_call_is_audited_with_its_outcome(client, staff_client, engine):
    service = await create(client)
    therapist = await staff_client("therapist")
    await client.get(URL)
    await therapist.get(f"{URL}{service['id']}/")
    await therapist.post(URL, json=body(code="90837"))
    await client.post(URL, json=body())
    await client.patch(f"{URL}{service['id']}/", json={"price": "1.00"})
    await client.delete(f"{URL}{service['id']}/")
    await client.delete(f"{URL}{service['id']}/")

    trail = [
        (event["action"], event["actor"], event["outcome"], event["status_code"])
        for event in await events(engine)
        if "billable" in event["action"]
    ]
    assert [(a, o, s) for a, _, o, s in trail] == [
        ("create_billable_service", "success", 201),
        ("list_billable_services", "success", 200),
        ("get_billable_service", "success", 200),
        ("create_billable_service", "denied", 403),
        ("create_billable_service", "invalid", 400),
        ("update_billable_service", "success", 200),
        ("delete_billable_service", "success", 204),
        ("delete_billable_service", "not_found", 404),
    ]
    assert trail[0][1] == "admin"
    assert trail[2][1].startswith("therapist-")


async def test_a_retried_create_with_its_idempotency_key_is_answered_once(client):
    headers = {"Idempotency-Key": "bs-1"}
    first = await client.post(URL, json=body(), headers=headers)
    again = await client.post(URL, json=body(), headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await client.get(URL)).json()["count"] == 1


async def test_the_currency_is_the_settings(client, settings, monkeypatch):
    service = await create(client)
    monkeypatch.setattr(settings, "currency", "EUR")

    assert (await client.get(f"{URL}{service['id']}/")).json()["currency"] == "EUR"
    assert (await client.get(URL)).json()["results"][0]["currency"] == "EUR"
    ignored = await client.patch(f"{URL}{service['id']}/", json={"currency": "GBP"})
    assert ignored.json() == {
        **service,
        "currency": "EUR",
        "updated_at": ignored.json()["updated_at"],
    }

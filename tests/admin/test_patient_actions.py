"""Bulk delete (admins only) and the wallet action (the API's atomic update_wallet path)."""

import asyncio
import re

import pytest

from tests.admin.conftest import audit_rows, browser, csrf_token, field_errors
from tests.factories import create_patient

pytestmark = pytest.mark.usefixtures("anonymous")


async def test_admins_bulk_delete_two_patients(admin_login, client, engine):
    first, second, kept = [await create_patient(client) for _ in range(3)]
    staff = await admin_login("admin", "boss")
    page = (await staff.get("/admin/patient/list")).text
    assert 'id="action-delete"' in page
    response = await staff.request(
        "DELETE",
        "/admin/patient/delete",
        params={"pks": f"{first['id']},{second['id']}"},
        headers={"referer": "http://testserver/admin/patient/list"},
    )
    assert response.status_code == 200
    assert response.text == "http://testserver/admin/patient/list"  # no ?error=
    for gone in (first, second):
        assert (await client.get(f"/api/patients/{gone['id']}/")).status_code == 404
    assert (await client.get(f"/api/patients/{kept['id']}/")).status_code == 200
    rows = await audit_rows(engine, "admin_delete_patient")
    assert sorted((r["actor"], r["patient_id"], r["outcome"]) for r in rows) == sorted(
        [("boss", first["id"], "success"), ("boss", second["id"], "success")]
    )


async def test_therapists_cannot_delete(admin_login, client, engine):
    patient = await create_patient(client)
    staff = await admin_login("therapist", "rivera")
    for page in ("/admin/patient/list", f"/admin/patient/details/{patient['id']}"):
        html = (await staff.get(page)).text
        assert 'id="action-delete"' not in html
        assert 'data-bs-target="#modal-delete"' not in html
        assert 'id="modal-delete"' not in html
    response = await staff.request("DELETE", "/admin/patient/delete", params={"pks": patient["id"]})
    assert response.status_code == 403
    assert (await client.get(f"/api/patients/{patient['id']}/")).status_code == 200
    rows = await audit_rows(engine, "admin_delete_patient")
    assert [(r["actor"], r["patient_id"], r["outcome"], r["status_code"]) for r in rows] == [
        ("rivera", patient["id"], "denied", 403)
    ]


async def test_deleting_an_unknown_patient_reports_it(admin_login):
    staff = await admin_login()
    response = await staff.request("DELETE", "/admin/patient/delete", params={"pks": "p_zzzzzz"})
    assert response.status_code == 200
    assert "error=" in response.text


def wallet_url(patient_id: str) -> str:
    return f"/admin/patient/wallet/{patient_id}"


async def balance(client, patient_id: str) -> str:
    body = (await client.get(f"/api/patients/{patient_id}/")).json()
    value: str = body["wallet_balance"]
    return value


async def test_the_wallet_action_shows_a_form(admin_login, client):
    patient = await create_patient(client)
    staff = await admin_login("therapist")
    details = (await staff.get(f"/admin/patient/details/{patient['id']}")).text
    link = re.search(r'href="([^"]*/action/update-wallet\?pks=[^"]+)"', details)
    assert link is not None
    form = await staff.get(link.group(1))
    assert form.status_code == 200
    assert f'action="http://testserver{wallet_url(patient["id"])}"' in form.text
    assert 'id="amount"' in form.text
    several = await staff.get("/admin/patient/action/update-wallet?pks=p_aaaaaa,p_bbbbbb")
    assert several.status_code == 302


async def test_the_wallet_changes_through_the_action(admin_login, client, engine):
    patient = await create_patient(client)
    staff = await admin_login("therapist", "rivera")
    response = await staff.post(wallet_url(patient["id"]), data={"amount": "25.50"})
    assert response.status_code == 302
    assert response.headers["location"].endswith(f"/admin/patient/details/{patient['id']}")
    assert await balance(client, patient["id"]) == "25.50"
    page = await staff.get(response.headers["location"])
    assert "Wallet balance changed by +25.50 to 25.50." in page.text
    rows = await audit_rows(engine, "admin_update_wallet")
    assert [(r["actor"], r["patient_id"], r["outcome"]) for r in rows] == [
        ("rivera", patient["id"], "success")
    ]


AMOUNT_FORMAT = (
    "Enter the amount in plain digits, with an optional leading minus and at most 2 decimal "
    "places, e.g. 25.50 or -10."
)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("-30.00", "Insufficient balance: the wallet balance cannot go below 0.00."),
        ("abc", "A valid number is required."),
        ("", "A valid number is required."),
        ("0", "Amount must not be zero."),
        ("1.001", "Ensure that there are no more than 2 decimal places."),
        ("2000000", "Ensure this value is less than or equal to 1000000."),
        ("99999999", "Ensure this value is less than or equal to 1000000."),
        ("1e2", AMOUNT_FORMAT),
        ("1_000", AMOUNT_FORMAT),
        ("+5", AMOUNT_FORMAT),
    ],
)
async def test_a_refused_amount_changes_nothing(admin_login, client, engine, amount, message):
    patient = await create_patient(client)
    staff = await admin_login()
    assert (
        await staff.post(wallet_url(patient["id"]), data={"amount": "20.00"})
    ).status_code == 302
    response = await staff.post(wallet_url(patient["id"]), data={"amount": amount})
    assert response.status_code == 400
    assert field_errors(response.text, "amount") == [message]
    assert await balance(client, patient["id"]) == "20.00"
    rows = await audit_rows(engine, "admin_update_wallet")
    assert [r["outcome"] for r in rows] == ["success", "invalid"]


async def test_the_wallet_action_writes_the_ledger_with_its_reason(admin_login, client):
    patient = await create_patient(client)
    staff = await admin_login("therapist", "rivera")
    await staff.post(wallet_url(patient["id"]), data={"amount": "5.00", "reason": "Refund"})
    await staff.post(wallet_url(patient["id"]), data={"amount": "1.00", "reason": ""})

    ledger = await client.get(f"/api/patients/{patient['id']}/wallet_transactions/")

    assert [(r["amount"], r["reason"], r["actor"]) for r in ledger.json()["results"]] == [
        ("1.00", None, "rivera"),
        ("5.00", "Refund", "rivera"),
    ]


async def test_a_too_long_reason_is_shown_next_to_its_field(admin_login, client):
    patient = await create_patient(client)
    staff = await admin_login()
    response = await staff.post(
        wallet_url(patient["id"]), data={"amount": "5.00", "reason": "x" * 256}
    )
    assert response.status_code == 400
    assert field_errors(response.text, "reason") == [
        "Ensure this field has no more than 255 characters."
    ]
    assert await balance(client, patient["id"]) == "0.00"


async def test_concurrent_wallet_changes_lose_nothing(admin_login, client):
    patient = await create_patient(client)
    staff = await admin_login()
    responses = await asyncio.gather(
        *(staff.post(wallet_url(patient["id"]), data={"amount": "1.00"}) for _ in range(30))
    )
    assert [r.status_code for r in responses] == [302] * 30
    assert await balance(client, patient["id"]) == "30.00"


async def test_the_wallet_of_an_unknown_patient_is_a_404(admin_login):
    staff = await admin_login()
    assert (await staff.post(wallet_url("p_zzzzzz"), data={"amount": "1"})).status_code == 404
    assert (await staff.post(wallet_url("%00"), data={"amount": "1"})).status_code == 404
    assert (await staff.get("/admin/patient/action/update-wallet?pks=p_zzzzzz")).status_code == 404


async def test_the_wallet_needs_a_login(app, client, anonymous):
    patient = await create_patient(client)
    async with browser(app) as visitor:
        refused = await visitor.post(wallet_url(patient["id"]), data={"amount": "5"})
        assert refused.status_code == 403  # no CSRF token
        token = await csrf_token(visitor)  # the login page's
        response = await visitor.post(
            wallet_url(patient["id"]), data={"amount": "5", "csrf_token": token}
        )
        assert response.status_code == 302
    assert await balance(client, patient["id"]) == "0.00"

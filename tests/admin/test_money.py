"""Money in the admin: invoices by status, an invoice's page and its actions (a manual payment,
void, write-off, refund), disputed payments and a patient's balance and cards; each through the
API's services, audited, with the API's roles and refusals."""

import re
from html import unescape
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.admin import money
from tests.admin.conftest import audit_rows, field_errors
from tests.factories import create_patient
from tests.invoices.conftest import draft, ledger_total, priced
from tests.invoices.conftest import issued as issue_one

pytestmark = pytest.mark.usefixtures("anonymous")


async def issued(client: httpx.AsyncClient, patient_id: str, price: str = "80.00") -> Any:
    return await issue_one(client, patient_id, priced("Session", price))


async def paid_in_cash(client: httpx.AsyncClient, invoice_id: int) -> dict[str, Any]:
    answer = await client.post("/api/payments/", json={"invoices": [invoice_id], "method": "cash"})
    assert answer.status_code == 201, answer.text
    payment: dict[str, Any] = answer.json()
    return payment


async def invoice_now(client: httpx.AsyncClient, invoice_id: int) -> dict[str, Any]:
    found: dict[str, Any] = (await client.get(f"/api/invoices/{invoice_id}/")).json()
    return found


def listed(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr data-invoice="(\d+)">', html)]


def alert(html: str, form: str) -> str:
    opening = f'<div class="alert alert-danger" role="alert" id="{form}-errors">'
    found = re.search(re.escape(opening) + r"(.*?)</div>\s*</div>", html, re.S)
    assert found is not None, f"no errors shown in the {form} form"
    return unescape(re.sub(r"<[^>]+>", " ", found.group(1)))


async def last_event(engine: AsyncEngine, action: str) -> dict[str, Any]:
    rows = await audit_rows(engine, action)
    assert rows, f"no {action} event"
    return rows[-1]


async def test_invoices_by_status_paged_and_audited(admin_login, client, engine, monkeypatch):
    patient = await create_patient(client)
    open_one = await issued(client, patient["id"])
    paid_one = await issued(client, patient["id"], "20.00")
    await paid_in_cash(client, paid_one["id"])
    drafted = await draft(client, patient["id"])
    admin = await admin_login("admin")

    everything = await admin.get("/admin/invoices")
    assert everything.status_code == 200
    assert listed(everything.text) == [drafted["id"], paid_one["id"], open_one["id"]]
    assert open_one["number"] in everything.text
    assert "80.00" in everything.text
    opened = await admin.get("/admin/invoices?status=open")
    assert listed(opened.text) == [open_one["id"]]
    assert listed((await admin.get("/admin/invoices?status=paid")).text) == [paid_one["id"]]
    assert listed((await admin.get("/admin/invoices?status=void")).text) == []
    mine = await admin.get(f"/admin/invoices?status=draft&patient={patient['id']}")
    assert listed(mine.text) == [drafted["id"]]
    assert listed((await admin.get("/admin/invoices?status=bogus")).text) == listed(everything.text)

    monkeypatch.setattr(money, "PAGE_SIZE", 2)
    first = await admin.get("/admin/invoices")
    second = await admin.get("/admin/invoices?page=2")
    assert listed(first.text) == [drafted["id"], paid_one["id"]]
    assert 'id="older"' in first.text
    assert listed(second.text) == [open_one["id"]]
    assert 'id="older"' not in second.text

    events = await audit_rows(engine, "admin_list_invoices")
    assert len(events) == 8
    assert {event["status_code"] for event in events} == {200}
    assert events[4]["patient_id"] == patient["id"]


async def test_an_invoice_shows_its_lines_payments_and_figures(admin_login, client, engine):
    patient = await create_patient(client)
    invoice = await issued(client, patient["id"], "70.00")
    payment = await paid_in_cash(client, invoice["id"])
    admin = await admin_login("admin")

    page = await admin.get(f"/admin/invoices/{invoice['id']}")

    assert page.status_code == 200
    assert f"Invoice {invoice['number']}" in page.text
    assert '<tr data-line="1">' in page.text
    assert "Session" in page.text
    assert f'<tr data-payment="{payment["id"]}">' in page.text
    assert re.search(r'data-figure="due">0\.00<', page.text)
    assert re.search(r'data-figure="paid">70\.00<', page.text)
    assert 'id="pay-form"' not in page.text  # paid: nothing to record
    assert 'id="void-form"' not in page.text
    assert f'id="refund-{payment["id"]}-form"' in page.text
    event = await last_event(engine, "admin_get_invoice")
    assert (event["patient_id"], event["status_code"]) == (patient["id"], 200)
    assert (await admin.get("/admin/invoices/999999999")).status_code == 404
    assert (await admin.get("/admin/invoices/abc")).status_code == 404


async def test_staff_record_a_cash_payment_in_the_invoices_form(admin_login, client, engine):
    patient = await create_patient(client)
    invoice = await issued(client, patient["id"])
    admin = await admin_login("admin")
    page = await admin.get(f"/admin/invoices/{invoice['id']}")
    assert 'id="pay-form"' in page.text

    recorded = await admin.post(
        f"/admin/invoices/{invoice['id']}/pay", data={"method": "cheque", "reference": "CHQ 1042"}
    )

    assert recorded.status_code == 302
    assert recorded.headers["location"].endswith(f"/admin/invoices/{invoice['id']}")
    now = await invoice_now(client, invoice["id"])
    assert (now["status"], now["amount_due"], now["amount_paid"]) == ("paid", "0.00", "80.00")
    payment = (await client.get(f"/api/payments/{now['payments'][0]['id']}/")).json()
    assert (payment["method"], payment["reference"]) == ("cheque", "CHQ 1042")
    shown = await admin.get(recorded.headers["location"])
    assert "CHQ 1042" in shown.text
    event = await last_event(engine, "admin_pay_invoice")
    assert (event["patient_id"], event["outcome"], event["status_code"]) == (
        patient["id"],
        "success",
        200,
    )
    assert await ledger_total(engine) == 0


async def test_a_refused_payment_is_shown_in_its_form(admin_login, client, engine):
    patient = await create_patient(client)
    invoice = await issued(client, patient["id"])
    admin = await admin_login("admin")

    card = await admin.post(f"/admin/invoices/{invoice['id']}/pay", data={"method": "card"})
    assert card.status_code == 400
    assert field_errors(card.text, "pay-method") == [money.MANUAL_ONLY]
    long = await admin.post(
        f"/admin/invoices/{invoice['id']}/pay", data={"method": "cash", "reference": "x" * 500}
    )
    assert long.status_code == 400
    assert field_errors(long.text, "pay-reference")
    assert 'value="' + "x" * 500 + '"' in long.text  # what was typed is kept

    await paid_in_cash(client, invoice["id"])  # meanwhile, at the desk
    again = await admin.post(f"/admin/invoices/{invoice['id']}/pay", data={"method": "cash"})
    assert again.status_code == 400
    assert "only an open invoice with an amount due can be paid" in alert(again.text, "pay")
    refusals = [e for e in await audit_rows(engine, "admin_pay_invoice") if e["status_code"] == 400]
    assert len(refusals) == 3
    assert refusals[-1]["patient_id"] == patient["id"]
    assert len((await invoice_now(client, invoice["id"]))["payments"]) == 1


async def test_an_admin_voids_and_writes_off_with_the_services_rules(admin_login, client, engine):
    patient = await create_patient(client)
    to_void, to_write_off = await issued(client, patient["id"]), await issued(client, patient["id"])
    paid = await issued(client, patient["id"])
    await paid_in_cash(client, paid["id"])
    admin = await admin_login("admin")
    page = await admin.get(f"/admin/invoices/{to_void['id']}")
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version is not None

    voided = await admin.post(
        f"/admin/invoices/{to_void['id']}/void",
        data={"reason": "Billed in error.", "version": version.group(1)},
    )
    assert voided.status_code == 302
    assert (await invoice_now(client, to_void["id"]))["status"] == "void"
    written_off = await admin.post(
        f"/admin/invoices/{to_write_off['id']}/write-off", data={"reason": "Moved abroad."}
    )
    assert written_off.status_code == 302
    now = await invoice_now(client, to_write_off["id"])
    assert (now["status"], now["amount_due"]) == ("uncollectible", "0.00")

    refused = await admin.post(f"/admin/invoices/{paid['id']}/void", data={"reason": ""})
    assert refused.status_code == 400
    assert "Only an open invoice can be voided; this one is paid." in alert(refused.text, "void")
    stale = await admin.post(
        f"/admin/invoices/{to_write_off['id']}/void", data={"version": version.group(1)}
    )
    assert stale.status_code == 412
    assert money.STALE in alert(stale.text, "void")
    too_long = await admin.post(
        f"/admin/invoices/{paid['id']}/write-off", data={"reason": "r" * 300}
    )
    assert too_long.status_code == 400
    assert field_errors(too_long.text, "write_off-reason")

    voids = await audit_rows(engine, "admin_void_invoice")
    assert [(e["status_code"], e["patient_id"]) for e in voids] == [
        (200, patient["id"]),
        (400, patient["id"]),
        (412, patient["id"]),
    ]
    write_offs = await audit_rows(engine, "admin_write_off_invoice")
    assert [e["status_code"] for e in write_offs] == [200, 400]
    assert await ledger_total(engine) == 0


async def test_an_admin_refunds_a_payment_never_past_what_was_paid(admin_login, client, engine):
    patient = await create_patient(client)
    invoice = await issued(client, patient["id"], "70.00")
    payment = await paid_in_cash(client, invoice["id"])
    admin = await admin_login("admin")
    form = f"refund-{payment['id']}"
    url = f"/admin/payments/{payment['id']}/refund"

    too_much = await admin.post(url, data={"invoice": invoice["id"], "amount": "70.01"})
    assert too_much.status_code == 400
    assert field_errors(too_much.text, f"{form}-amount") == [
        "A refund cannot exceed what is left of the payment: 70.00."
    ]
    assert 'value="70.01"' in too_much.text
    not_money = await admin.post(url, data={"invoice": invoice["id"], "amount": "ten"})
    assert not_money.status_code == 400
    assert field_errors(not_money.text, f"{form}-amount")

    part = await admin.post(
        url, data={"invoice": invoice["id"], "amount": "20.00", "reason": "Cut short."}
    )
    assert part.status_code == 302
    assert part.headers["location"].endswith(f"/admin/invoices/{invoice['id']}")
    rest = await admin.post(url, data={"invoice": invoice["id"]})  # blank: all that is left
    assert rest.status_code == 302
    refunded = (await client.get(f"/api/payments/{payment['id']}/")).json()
    assert refunded["amount_refunded"] == "70.00"
    shown = await admin.get(f"/admin/invoices/{invoice['id']}")
    assert f'id="{form}-form"' not in shown.text  # nothing left to refund

    events = await audit_rows(engine, "admin_refund_payment")
    assert [(e["status_code"], e["patient_id"]) for e in events] == [
        (400, patient["id"]),
        (400, None),  # refused by the form's rules, before the payment was read
        (200, patient["id"]),
        (200, patient["id"]),
    ]
    assert (await admin.post("/admin/payments/999999999/refund", data={})).status_code == 404
    assert await ledger_total(engine) == 0


async def test_a_therapist_reads_and_records_but_may_not_void_write_off_or_refund(
    admin_login, client, engine
):
    patient = await create_patient(client)
    invoice = await issued(client, patient["id"])
    paid = await issued(client, patient["id"])
    payment = await paid_in_cash(client, paid["id"])
    therapist = await admin_login("therapist")

    listing = await therapist.get("/admin/invoices")
    assert listing.status_code == 200
    page = await therapist.get(f"/admin/invoices/{invoice['id']}")
    assert page.status_code == 200
    assert 'id="pay-form"' in page.text
    assert 'id="void-form"' not in page.text
    assert 'id="write_off-form"' not in page.text
    assert "refund-form" not in (await therapist.get(f"/admin/invoices/{paid['id']}")).text
    assert "Disputed payments" not in listing.text

    for path in (
        f"/admin/invoices/{invoice['id']}/void",
        f"/admin/invoices/{invoice['id']}/write-off",
        f"/admin/payments/{payment['id']}/refund",
    ):
        assert (await therapist.post(path, data={"invoice": invoice["id"]})).status_code == 403
    assert (await therapist.get("/admin/payments/disputed")).status_code == 403
    assert (await invoice_now(client, invoice["id"]))["status"] == "open"
    for action in ("admin_void_invoice", "admin_write_off_invoice", "admin_refund_payment"):
        event = await last_event(engine, action)
        assert (event["outcome"], event["status_code"], event["actor"]) == (
            "denied",
            403,
            event["actor"],
        )
        assert event["actor"].startswith("therapist-")

    # Recording money received is every staff member's, as in the API (docs/roles.md).
    recorded = await therapist.post(f"/admin/invoices/{invoice['id']}/pay", data={"method": "cash"})
    assert recorded.status_code == 302
    assert (await invoice_now(client, invoice["id"]))["status"] == "paid"


async def test_an_action_without_the_csrf_token_is_refused(admin_login, client):
    patient = await create_patient(client)
    invoice = await issued(client, patient["id"])
    admin = await admin_login("admin")
    del admin.headers["X-CSRFToken"]

    answer = await admin.post(f"/admin/invoices/{invoice['id']}/pay", data={"method": "cash"})

    assert answer.status_code == 403
    assert (await invoice_now(client, invoice["id"]))["status"] == "open"


async def dispute(engine: AsyncEngine, payment_id: int, status: str) -> None:
    """What Stripe's charge.dispute.created does to a payment (app.payments.webhooks)."""
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE payments SET disputed_at = now(), dispute_status = :s WHERE id = :id"),
            {"s": status, "id": payment_id},
        )


async def test_disputed_payments_are_flagged_to_admins(admin_login, client, engine):
    patient = await create_patient(client)
    invoice, other = await issued(client, patient["id"]), await issued(client, patient["id"])
    disputed = await paid_in_cash(client, invoice["id"])
    undisputed = await paid_in_cash(client, other["id"])
    await dispute(engine, disputed["id"], "needs_response")
    admin = await admin_login("admin")

    index = await admin.get("/admin/")
    assert "/admin/payments/disputed" in index.text
    page = await admin.get("/admin/payments/disputed")

    assert page.status_code == 200
    assert f'<tr data-payment="{disputed["id"]}">' in page.text
    assert f'<tr data-payment="{undisputed["id"]}">' not in page.text
    assert "needs_response" in page.text
    assert f'href="http://testserver/admin/invoices/{invoice["id"]}"' in page.text
    badge = await admin.get(f"/admin/invoices/{invoice['id']}")
    assert "data-disputed" in badge.text
    assert "disputed: needs_response" in badge.text
    assert "data-disputed" not in (await admin.get(f"/admin/invoices/{other['id']}")).text
    assert (await last_event(engine, "admin_list_disputed_payments"))["status_code"] == 200


async def add_card(engine: AsyncEngine, patient_id: str, *, default: bool, autopay: bool) -> None:
    """A card on file as the webhook or the setup's completion records it."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO processor_customers (patient_id, customer_id, autopay, "
                "autopay_changed_at, autopay_changed_by) VALUES (:p, :c, :a, now(), 'jdoe')"
            ),
            {"p": patient_id, "c": f"cus_{patient_id}", "a": autopay},
        )
        await connection.execute(
            text(
                "INSERT INTO payment_methods (patient_id, processor_id, brand, last4, exp_month, "
                "exp_year, is_default) VALUES (:p, :pm, 'visa', '4242', 4, 2031, :d)"
            ),
            {"p": patient_id, "pm": f"pm_{patient_id}", "d": default},
        )


async def test_a_patients_balance_and_cards(admin_login, client, engine, monkeypatch):
    patient = await create_patient(client)
    first, second = await issued(client, patient["id"]), await issued(client, patient["id"], "20")
    settled = await issued(client, patient["id"], "5.00")
    await paid_in_cash(client, settled["id"])
    answer = await client.post(
        f"/api/patients/{patient['id']}/update_wallet/", json={"amount": "15.00"}
    )
    assert answer.status_code == 200, answer.text
    await add_card(engine, patient["id"], default=True, autopay=True)
    admin = await admin_login("admin")

    details = await admin.get(f"/admin/patient/details/{patient['id']}")
    assert f'href="http://testserver/admin/patients/{patient["id"]}/balance"' in details.text
    page = await admin.get(f"/admin/patients/{patient['id']}/balance")

    assert page.status_code == 200
    assert re.search(r'data-figure="owed">100\.00 USD<', page.text)
    assert re.search(r'data-figure="wallet">15\.00 USD<', page.text)
    assert re.search(r'data-figure="autopay">on', page.text)
    assert listed(page.text) == [second["id"], first["id"]]
    assert "visa" in page.text
    assert "•••• 4242" in page.text
    assert "04/2031" in page.text
    assert "data-default" in page.text
    event = await last_event(engine, "admin_get_patient_balance")
    assert (event["patient_id"], event["status_code"]) == (patient["id"], 200)

    monkeypatch.setattr(money, "OPEN_INVOICES_SHOWN", 1)
    fewer = await admin.get(f"/admin/patients/{patient['id']}/balance")
    assert listed(fewer.text) == [second["id"]]
    assert 'id="more-open"' in fewer.text
    assert re.search(r'data-figure="owed">100\.00 USD<', fewer.text)  # all of them, still

    bare = await create_patient(client)
    empty = await admin.get(f"/admin/patients/{bare['id']}/balance")
    assert re.search(r'data-figure="owed">0\.00 USD<', empty.text)
    assert 'id="no-cards"' in empty.text
    assert re.search(r'data-figure="autopay">off', empty.text)
    assert (await admin.get("/admin/patients/p_zzzzzz/balance")).status_code == 404
    assert (await admin.get("/admin/patients/nobody/balance")).status_code == 404
    therapist = await admin_login("therapist")
    assert (await therapist.get(f"/admin/patients/{patient['id']}/balance")).status_code == 200

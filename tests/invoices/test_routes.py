"""The invoices API: manual drafts (lines of a service at the patient's price, or of a
description and a price) written, changed and deleted by staff; issued, voided and written off
by admins, with the ledger whole after each; who reads what; the list's filters and pages; and
Idempotency-Key on the POSTs."""

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from app.core.config import Settings
from tests.factories import create_patient
from tests.invoices.conftest import (
    URL,
    add_service,
    draft,
    issued,
    ledger_total,
    priced,
    receivable,
    set_scale,
    url,
)

DENIED = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"detail": "Not found."}
NO_SERVICE = {"lines": ["Item 1: No billable service has this id."]}
STALE = {"detail": "The invoice has changed since it was read (If-Match)."}
KEY = '"invoice-key-1"'


def year(settings: Settings) -> int:
    return datetime.now(settings.clinic_zone).year


async def assert_ledger_whole(engine: Any, *invoices: dict[str, Any]) -> None:
    """Every movement balanced, and each invoice owed what its receivable entries say."""
    assert await ledger_total(engine) == 0
    for invoice in invoices:
        assert await receivable(engine, invoice["id"]) == Decimal(invoice["amount_due"])


# Drafts.


async def test_a_draft_of_a_service_at_the_patients_price_and_of_a_priced_line(
    client, patient, service, settings, engine
):
    await set_scale(client, patient["id"], 60)

    created = await client.post(
        URL,
        json={
            "patient": patient["id"],
            "lines": [
                {"service": service["id"], "quantity": 2},
                priced("Copy of records", "15.5"),
                {"service": service["id"], "unit_price": "100.00"},
                {"service": service["id"], "description": "Intake"},
            ],
            "memo": "  Records requested.  ",
            "due_date": "2030-12-31",
        },
    )

    assert created.status_code == 201, created.text
    invoice = created.json()
    assert created.headers["ETag"]
    assert invoice == {
        "id": invoice["id"],
        "number": None,
        "patient": patient["id"],
        "kind": "manual",
        "status": "draft",
        "appointment": None,
        "currency": settings.currency,
        "total": "331.50",  # 2 x 72.00 + 15.50 + 100.00 + 72.00
        "amount_paid": "0.00",
        "amount_due": "0.00",  # a draft asks for nothing
        "memo": "Records requested.",
        "due_date": "2030-12-31",
        "lines": invoice["lines"],
        "payments": [],
        "issued_at": None,
        "paid_at": None,
        "closed_at": None,
        "created_by": "admin",
        "created_at": invoice["created_at"],
        "updated_at": invoice["updated_at"],
    }
    code = {"service": service["id"], "service_code": "90834"}
    nothing = {"date_of_service": None, "therapist": None}
    assert invoice["lines"] == [
        {
            "position": 1,
            "description": "90834 Psychotherapy, 45 minutes (sliding scale 60%)",
            **code,
            **nothing,
            "quantity": 2,
            "unit_price": "72.00",
            "amount": "144.00",
        },
        {
            "position": 2,
            "description": "Copy of records",
            "service": None,
            "service_code": None,
            **nothing,
            "quantity": 1,
            "unit_price": "15.50",
            "amount": "15.50",
        },
        {
            "position": 3,
            "description": "90834 Psychotherapy, 45 minutes",  # its own price: no scale
            **code,
            **nothing,
            "quantity": 1,
            "unit_price": "100.00",
            "amount": "100.00",
        },
        {
            "position": 4,
            "description": "Intake",
            **code,
            **nothing,
            "quantity": 1,
            "unit_price": "72.00",
            "amount": "72.00",
        },
    ]
    read = await client.get(url(invoice["id"]))
    assert read.status_code == 200
    assert read.json() == invoice
    assert read.headers["ETag"] == created.headers["ETag"]
    # A draft posts nothing.
    assert await receivable(engine, invoice["id"]) == 0
    assert await ledger_total(engine) == 0


async def test_without_a_scale_a_service_is_at_its_full_price(client, patient, service):
    invoice = await draft(client, patient["id"], {"service": service["id"]})

    assert invoice["total"] == "120.00"
    assert invoice["lines"][0]["description"] == "90834 Psychotherapy, 45 minutes"


async def test_a_scale_rounds_to_the_cent(client, patient):
    odd = await add_service(client, code="90837", price="99.99")
    await set_scale(client, patient["id"], 33)

    invoice = await draft(client, patient["id"], {"service": odd["id"]})

    assert invoice["lines"][0]["unit_price"] == "33.00"  # 32.9967, half up


async def test_a_line_of_a_service_not_there_is_a_400(client, patient, service):
    missing = await client.post(
        URL, json={"patient": patient["id"], "lines": [{"service": service["id"] + 1000}]}
    )
    assert missing.status_code == 400
    assert missing.json() == NO_SERVICE
    # A deleted service is gone for new lines.
    assert (await client.delete(f"/api/billable-services/{service['id']}/")).status_code == 204
    deleted = await client.post(
        URL, json={"patient": patient["id"], "lines": [{"service": service["id"]}]}
    )
    assert deleted.status_code == 400
    assert deleted.json() == NO_SERVICE
    assert (await client.get(URL)).json()["count"] == 0


async def test_a_line_needs_a_service_or_a_description_and_a_price(client, patient):
    answer = await client.post(
        URL,
        json={
            "patient": patient["id"],
            "lines": [priced(), {"description": "No price"}, {"unit_price": "5.00"}],
        },
    )

    assert answer.status_code == 400
    needs = "A line without a service needs a description and a unit price."
    assert answer.json() == {"lines": [f"Item 2: {needs}", f"Item 3: {needs}"]}
    assert (await client.get(URL)).json()["count"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lines": []}, "lines"),
        ({"lines": [priced(unit_price="-1.00")]}, "lines"),
        ({"lines": [priced(quantity=0)]}, "lines"),
        ({"lines": [priced(quantity=101)]}, "lines"),
        ({"lines": [priced(description="")]}, "lines"),
        ({"lines": [{"service": True}]}, "lines"),
        ({"patient": "nobody"}, "patient"),
    ],
)
async def test_a_body_out_of_bounds_is_a_400_on_its_field(client, patient, body, field):
    answer = await client.post(URL, json={"patient": patient["id"], "lines": [priced()], **body})

    assert answer.status_code == 400, answer.text
    assert set(answer.json()) == {field}


async def test_a_patient_not_there_is_a_400_on_patient(client):
    answer = await client.post(URL, json={"patient": "p_zzzzzz", "lines": [priced()]})

    assert answer.status_code == 400
    assert answer.json() == {"patient": ["No patient has this id."]}


async def test_a_draft_is_changed_with_if_match(client, patient, service):
    made = await client.post(URL, json={"patient": patient["id"], "lines": [priced()]})
    etag = made.headers["ETag"]
    invoice = made.json()

    stale = await client.patch(url(invoice["id"]), json={"memo": "x"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json() == STALE
    assert (await client.get(url(invoice["id"]))).json() == invoice

    changed = await client.patch(
        url(invoice["id"]),
        json={"memo": "Second copy.", "lines": [{"service": service["id"]}, priced()]},
        headers={"If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert changed.headers["ETag"] != etag
    assert (after["memo"], after["total"], after["status"]) == ("Second copy.", "135.00", "draft")
    assert [line["position"] for line in after["lines"]] == [1, 2]
    assert after["due_date"] is None
    # Only what is sent changes: the lines stay.
    dated = await client.patch(url(invoice["id"]), json={"due_date": "2030-01-31"})
    assert dated.status_code == 200
    assert {**dated.json(), "updated_at": None, "due_date": None} == {
        **after,
        "updated_at": None,
    }
    # The old tag is stale now.
    again = await client.patch(url(invoice["id"]), json={"memo": "y"}, headers={"If-Match": etag})
    assert again.status_code == 412


async def test_a_draft_is_deleted_with_if_match(client, patient):
    made = await client.post(URL, json={"patient": patient["id"], "lines": [priced()]})
    invoice_id = made.json()["id"]

    stale = await client.delete(url(invoice_id), headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    deleted = await client.delete(url(invoice_id), headers={"If-Match": made.headers["ETag"]})
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await client.get(url(invoice_id))).status_code == 404
    assert (await client.delete(url(invoice_id))).status_code == 404
    assert (await client.patch(url(invoice_id), json={"memo": "x"})).status_code == 404


async def test_an_issued_invoice_cannot_be_changed_or_deleted(client, patient, engine):
    invoice = await issued(client, patient["id"])
    refused = {
        "detail": "The invoice is open: only a draft can be changed or deleted.",
    }

    changed = await client.patch(url(invoice["id"]), json={"memo": "x"})
    deleted = await client.delete(url(invoice["id"]))

    assert (changed.status_code, changed.json()) == (409, refused)
    assert (deleted.status_code, deleted.json()) == (409, refused)
    assert (await client.get(url(invoice["id"]))).json() == invoice
    await assert_ledger_whole(engine, invoice)


# Issuing.


async def test_an_admin_issues_a_draft(client, patient, service, engine, settings):
    await set_scale(client, patient["id"], 60)
    made = await client.post(
        URL, json={"patient": patient["id"], "lines": [{"service": service["id"]}, priced()]}
    )
    draft_tag = made.headers["ETag"]

    answer = await client.post(url(made.json()["id"], "issue"))

    assert answer.status_code == 200, answer.text
    invoice = answer.json()
    assert invoice["number"] == f"{year(settings)}-000001"
    assert (invoice["status"], invoice["total"], invoice["amount_due"]) == (
        "open",
        "87.00",
        "87.00",
    )
    assert invoice["issued_at"] is not None
    assert (invoice["paid_at"], invoice["closed_at"]) == (None, None)
    assert invoice["lines"] == made.json()["lines"]
    assert answer.headers["ETag"] != draft_tag
    assert (await client.get(url(invoice["id"]))).json() == invoice
    await assert_ledger_whole(engine, invoice)
    # Issued once: again is a 409, and takes no number.
    again = await client.post(url(invoice["id"], "issue"))
    assert again.status_code == 409
    assert again.json() == {
        "detail": "The invoice is open: only a draft can be changed or deleted."
    }
    following = await issued(client, patient["id"])
    assert following["number"] == f"{year(settings)}-000002"


async def test_issuing_honours_if_match(client, patient):
    invoice = await draft(client, patient["id"])

    stale = await client.post(url(invoice["id"], "issue"), headers={"If-Match": '"1"'})

    assert stale.status_code == 412
    assert (await client.get(url(invoice["id"]))).json()["status"] == "draft"


async def test_a_total_of_0_is_issued_paid(client, patient, engine, settings):
    invoice = await issued(client, patient["id"], priced("Courtesy session", "0"))

    assert invoice["number"] == f"{year(settings)}-000001"
    assert (invoice["status"], invoice["total"], invoice["amount_due"]) == ("paid", "0.00", "0.00")
    assert invoice["paid_at"] is not None
    assert await ledger_total(engine) == 0
    assert await receivable(engine, invoice["id"]) == 0


async def test_only_an_admin_issues(client, patient, staff_client, patient_client):
    therapist = await staff_client("therapist")
    made = await therapist.post(URL, json={"patient": patient["id"], "lines": [priced()]})
    assert made.status_code == 201, made.text
    assert made.json()["created_by"].startswith("therapist-")
    me = await patient_client(patient["id"])

    for caller in (therapist, me):
        refused = await caller.post(url(made.json()["id"], "issue"))
        assert (refused.status_code, refused.json()) == (403, DENIED)
    assert (await client.get(url(made.json()["id"]))).json()["status"] == "draft"


# Voids and write-offs.


async def pay(engine: Any, invoice: dict[str, Any], amount: str) -> None:
    """Part of an invoice paid in cash, as a payment would post it."""
    async with engine.begin() as connection:
        payment_id = await connection.scalar(
            text(
                "INSERT INTO payments (patient_id, purpose, method, status, amount, currency, "
                "succeeded_at, created_by, created_by_kind) VALUES (:p, 'invoices', 'cash', "
                "'succeeded', :a, :c, now(), 'admin', 'staff') RETURNING id"
            ),
            {"p": invoice["patient"], "a": Decimal(amount), "c": invoice["currency"]},
        )
        await connection.execute(
            text(
                "INSERT INTO payment_allocations (payment_id, invoice_id, amount) "
                "VALUES (:pay, :i, :a)"
            ),
            {"pay": payment_id, "i": invoice["id"], "a": Decimal(amount)},
        )
        posted = await connection.scalar(
            text(
                "INSERT INTO ledger_transactions (kind, patient_id, invoice_id, payment_id, "
                "actor, actor_kind) VALUES ('payment', :p, :i, :pay, 'admin', 'staff') "
                "RETURNING id"
            ),
            {"p": invoice["patient"], "i": invoice["id"], "pay": payment_id},
        )
        await connection.execute(
            text(
                "INSERT INTO ledger_entries (transaction_id, account, patient_id, invoice_id, "
                "amount) VALUES (:t, 'cash', NULL, NULL, :a), (:t, 'receivable', :p, :i, -:a)"
            ),
            {"t": posted, "p": invoice["patient"], "i": invoice["id"], "a": Decimal(amount)},
        )


async def test_an_admin_voids_an_open_invoice(client, patient, engine):
    invoice = await issued(client, patient["id"], priced(unit_price="80.00"))

    answer = await client.post(url(invoice["id"], "void"), json={"reason": "Billed in error."})

    assert answer.status_code == 200, answer.text
    void = answer.json()
    assert (void["status"], void["number"], void["total"], void["amount_due"]) == (
        "void",
        invoice["number"],
        "80.00",
        "0.00",
    )
    assert void["closed_at"] is not None
    await assert_ledger_whole(engine, void)
    async with engine.connect() as connection:
        memo = await connection.scalar(
            text("SELECT memo FROM ledger_transactions WHERE kind = 'void' AND invoice_id = :i"),
            {"i": invoice["id"]},
        )
    assert memo == "Billed in error."
    # Void is final.
    for action, refused in (("void", 400), ("write_off", 400), ("issue", 409)):
        assert (await client.post(url(invoice["id"], action))).status_code == refused
    await assert_ledger_whole(engine, void)


@pytest.mark.parametrize("action", ["void", "write_off"])
async def test_only_an_open_invoice_is_voided_or_written_off(client, patient, engine, action):
    made = await draft(client, patient["id"])
    free = await issued(client, patient["id"], priced(unit_price="0"))
    what = "voided" if action == "void" else "written off"

    for invoice, status in ((made, "draft"), (free, "paid")):
        answer = await client.post(url(invoice["id"], action))
        assert answer.status_code == 400
        assert answer.json() == {
            "non_field_errors": [f"Only an open invoice can be {what}; this one is {status}."]
        }
        assert (await client.get(url(invoice["id"]))).json() == invoice
    assert await ledger_total(engine) == 0


async def test_an_invoice_with_payments_is_not_voided_but_written_off(client, patient, engine):
    invoice = await issued(client, patient["id"], priced(unit_price="80.00"))
    await pay(engine, invoice, "30.00")
    paid_part = (await client.get(url(invoice["id"]))).json()
    assert (paid_part["amount_paid"], paid_part["amount_due"]) == ("30.00", "50.00")
    assert [(p["method"], p["amount"]) for p in paid_part["payments"]] == [("cash", "30.00")]

    refused = await client.post(url(invoice["id"], "void"))

    assert refused.status_code == 400
    assert refused.json() == {
        "non_field_errors": [
            "An invoice with payments cannot be voided: refund them, or write the rest off."
        ]
    }
    written_off = await client.post(url(invoice["id"], "write_off"), json={})
    assert written_off.status_code == 200, written_off.text
    after = written_off.json()
    assert (after["status"], after["amount_paid"], after["amount_due"]) == (
        "uncollectible",
        "30.00",
        "0.00",
    )
    await assert_ledger_whole(engine, after)
    async with engine.connect() as connection:
        bad_debt = await connection.scalar(
            text("SELECT sum(amount) FROM ledger_entries WHERE account = 'bad_debt'")
        )
    assert bad_debt == Decimal("50.00")


async def test_an_admin_writes_an_invoice_off(client, patient, engine):
    invoice = await issued(client, patient["id"], priced(unit_price="45.00"))

    answer = await client.post(url(invoice["id"], "write_off"), json={"reason": "Moved away."})

    assert answer.status_code == 200, answer.text
    after = answer.json()
    assert (after["status"], after["amount_due"], after["number"]) == (
        "uncollectible",
        "0.00",
        invoice["number"],
    )
    assert after["closed_at"] is not None
    await assert_ledger_whole(engine, after)
    again = await client.post(url(invoice["id"], "write_off"))
    assert again.status_code == 400


@pytest.mark.parametrize("action", ["void", "write_off"])
async def test_a_therapist_neither_voids_nor_writes_off(
    client, patient, staff_client, patient_client, engine, action
):
    invoice = await issued(client, patient["id"])
    therapist = await staff_client("therapist")
    me = await patient_client(patient["id"])

    for caller in (therapist, me):
        refused = await caller.post(url(invoice["id"], action))
        assert (refused.status_code, refused.json()) == (403, DENIED)
    assert (await client.get(url(invoice["id"]))).json() == invoice
    await assert_ledger_whole(engine, invoice)


@pytest.mark.parametrize("action", ["void", "write_off"])
async def test_voids_and_write_offs_honour_if_match(client, patient, action):
    invoice = await issued(client, patient["id"])

    stale = await client.post(url(invoice["id"], action), headers={"If-Match": '"1"'})

    assert stale.status_code == 412
    assert (await client.get(url(invoice["id"]))).json() == invoice


# Who reads what.


async def test_a_patient_reads_only_their_own(client, patient, patient_client):
    other = await create_patient(client)
    mine = await issued(client, patient["id"])
    theirs = await issued(client, other["id"])
    me = await patient_client(patient["id"])

    listed = await me.get(URL)
    assert listed.status_code == 200
    assert [one["id"] for one in listed.json()["results"]] == [mine["id"]]
    own_filter = await me.get(URL, params={"patient": patient["id"]})
    assert [one["id"] for one in own_filter.json()["results"]] == [mine["id"]]
    another = (await me.get(URL, params={"patient": other["id"]})).json()
    assert (another["count"], another["results"]) == (0, [])
    assert (await me.get(url(mine["id"]))).json() == mine
    foreign = await me.get(url(theirs["id"]))
    assert (foreign.status_code, foreign.json()) == (403, DENIED)
    # Nor write one.
    written = await me.post(URL, json={"patient": patient["id"], "lines": [priced()]})
    assert written.status_code == 403
    assert (await me.delete(url(mine["id"]))).status_code == 403


async def test_a_patient_sees_no_draft_as_stripe_shows_a_customer_none(
    client, patient, patient_client
):
    shown = await issued(client, patient["id"])
    hidden = await draft(client, patient["id"])
    me = await patient_client(patient["id"])

    listed = (await me.get(URL)).json()
    drafts = (await me.get(URL, params={"status": "draft"})).json()

    assert [one["id"] for one in listed["results"]] == [shown["id"]]
    assert drafts["count"] == 0
    read = await me.get(url(hidden["id"]))
    assert (read.status_code, read.json()) == (404, NOT_FOUND)
    assert (await client.get(url(hidden["id"]))).status_code == 200


async def test_a_therapist_reads_every_invoice(client, patient, staff_client):
    other = await create_patient(client)
    first = await issued(client, patient["id"])
    second = await draft(client, other["id"])
    therapist = await staff_client("therapist")

    listed = (await therapist.get(URL)).json()

    assert [one["id"] for one in listed["results"]] == [second["id"], first["id"]]
    assert (await therapist.get(url(first["id"]))).json() == first


async def test_anonymous_is_a_401(anonymous, client, patient):
    invoice = await issued(client, patient["id"])

    for answer in (
        await anonymous.get(URL),
        await anonymous.get(url(invoice["id"])),
        await anonymous.post(URL, json={"patient": patient["id"], "lines": [priced()]}),
        await anonymous.post(url(invoice["id"], "void")),
    ):
        assert answer.status_code == 401


async def test_an_invoice_not_there_is_a_404(client):
    for answer in (
        await client.get(url(999_999)),
        await client.patch(url(999_999), json={"memo": "x"}),
        await client.post(url(999_999, "issue")),
        await client.post(url(999_999, "void")),
        await client.post(url(999_999, "write_off")),
        await client.get(f"{URL}0/"),
        await client.get(f"{URL}abc/"),
    ):
        assert (answer.status_code, answer.json()) == (404, NOT_FOUND)


# The list.


async def test_the_list_filters_by_status_year_and_patient(client, patient, settings):
    other = await create_patient(client)
    open_one = await issued(client, patient["id"])
    void_one = await issued(client, patient["id"])
    await client.post(url(void_one["id"], "void"))
    a_draft = await draft(client, patient["id"])
    theirs = await issued(client, other["id"])

    async def ids(**params: Any) -> list[int]:
        answer = await client.get(URL, params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert page["count"] == len(page["results"])
        return [one["id"] for one in page["results"]]

    assert await ids() == [theirs["id"], a_draft["id"], void_one["id"], open_one["id"]]
    assert await ids(status="open") == [theirs["id"], open_one["id"]]
    assert await ids(status="void") == [void_one["id"]]
    assert await ids(status="draft") == [a_draft["id"]]
    assert await ids(status="paid") == []
    # Drafts have no year yet.
    this_year = year(settings)
    assert await ids(year=this_year) == [theirs["id"], void_one["id"], open_one["id"]]
    assert await ids(year=this_year - 1) == []
    assert await ids(patient=patient["id"]) == [a_draft["id"], void_one["id"], open_one["id"]]
    assert await ids(patient=patient["id"], status="open", year=this_year) == [open_one["id"]]
    assert await ids(patient="", status="") == await ids()
    for bad in ({"status": "late"}, {"year": "1999"}, {"year": "x"}, {"patient": "nobody"}):
        answer = await client.get(URL, params=bad)
        assert answer.status_code == 400, (bad, answer.text)
        assert set(answer.json()) == set(bad)


async def test_the_list_pages(client, patient):
    made = [await draft(client, patient["id"]) for _ in range(5)]
    newest_first = [one["id"] for one in reversed(made)]

    first = (await client.get(URL, params={"page_size": 2})).json()
    assert first["count"] == 5
    assert [one["id"] for one in first["results"]] == newest_first[:2]
    assert first["previous"] is None
    second = (await client.get(first["next"])).json()
    assert [one["id"] for one in second["results"]] == newest_first[2:4]
    third = (await client.get(second["next"])).json()
    assert [one["id"] for one in third["results"]] == newest_first[4:]
    assert third["next"] is None
    assert (await client.get(URL, params={"page": 9})).status_code == 404


# Idempotency-Key.


async def test_a_create_is_replayed_with_its_key(client, patient):
    body = {"patient": patient["id"], "lines": [priced()]}

    first = await client.post(URL, json=body, headers={"Idempotency-Key": KEY})
    retry = await client.post(URL, json=body, headers={"Idempotency-Key": KEY})

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["ETag"] == first.headers["ETag"]
    assert (await client.get(URL)).json()["count"] == 1
    other = await client.post(
        URL, json={**body, "memo": "Another."}, headers={"Idempotency-Key": KEY}
    )
    assert other.status_code == 422


async def test_an_issue_is_replayed_with_its_key(client, patient, settings):
    invoice = await draft(client, patient["id"])

    first = await client.post(url(invoice["id"], "issue"), headers={"Idempotency-Key": KEY})
    retry = await client.post(url(invoice["id"], "issue"), headers={"Idempotency-Key": KEY})

    assert first.status_code == retry.status_code == 200, retry.text
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert first.json()["number"] == f"{year(settings)}-000001"
    assert re.fullmatch(r"\d{4}-\d{6}", first.json()["number"])

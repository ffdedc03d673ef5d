"""Statements and superbills through the API, over a month of real data (tests/statements/
conftest.py): every figure of the JSON, the same figures read back from the PDFs, who may read
them, the format's negotiation and the period's checks."""

import io
from datetime import date, timedelta

import pypdf
import pytest
from sqlalchemy import text

from tests.factories import create_patient
from tests.requests.test_work import events
from tests.statements.conftest import NPI, SESSION_DAY, month_of, today

JANUARY = "start=2030-01-01&end=2030-01-31"


def text_in(document: bytes) -> str:
    pages = pypdf.PdfReader(io.BytesIO(document)).pages
    return " ".join(" ".join(page.extract_text().split()) for page in pages)


def period_query(settings) -> str:
    start, end = month_of(today(settings))
    return f"start={start}&end={end}"


async def test_the_statement_has_every_figure_of_the_month(client, month, settings, engine):
    patient = month.patient["id"]
    start, end = month_of(today(settings))

    response = await client.get(f"/api/patients/{patient}/statement/")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    statement = response.json()
    generated_at = statement.pop("generated_at")
    assert generated_at.endswith("Z")
    session, manual, voided = month.session, month.manual, month.voided
    assert statement == {
        "patient": {"id": patient, "name": "Jane Doe"},
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "currency": "USD",
        "opening_balance": "0.00",
        "invoices": [
            {
                "id": session["id"],
                "number": session["number"],
                "issued_at": session["issued_at"],
                "status": "paid",
                "total": "120.00",
                "amount_paid": "120.00",
                "amount_due": "0.00",
            },
            {
                "id": manual["id"],
                "number": manual["number"],
                "issued_at": manual["issued_at"],
                "status": "open",
                "total": "80.00",
                "amount_paid": "0.00",
                "amount_due": "80.00",
            },
            {
                "id": voided["id"],
                "number": voided["number"],
                "issued_at": voided["issued_at"],
                "status": "void",
                "total": "15.00",
                "amount_paid": "0.00",
                "amount_due": "0.00",
            },
        ],
        "payments": [
            {
                "id": month.payment["id"],
                "received_at": month.payment["succeeded_at"],
                "method": "cash",
                "amount": "120.00",
                "invoices": [session["number"]],
            }
        ],
        "refunds": [
            {
                "id": month.refund["id"],
                "created_at": month.refund["created_at"],
                "amount": "20.00",
                "payment": month.payment["id"],
            }
        ],
        "totals": {"invoiced": "200.00", "paid": "120.00", "refunded": "20.00"},
        "closing_balance": "80.00",
    }
    assert month.draft["id"] not in [invoice["id"] for invoice in statement["invoices"]]
    (event,) = await events(engine, action="get_statement")
    assert (event["patient_id"], event["outcome"], event["status_code"]) == (
        patient,
        "success",
        200,
    )


async def test_the_balance_carries_into_the_next_month_and_an_earlier_one_is_empty(
    client, month, settings
):
    patient = month.patient["id"]
    _, end = month_of(today(settings))
    following = month_of(end + timedelta(days=1))
    earlier = month_of(today(settings).replace(day=1) - timedelta(days=1))

    later = await client.get(
        f"/api/patients/{patient}/statement/?start={following[0]}&end={following[1]}"
    )
    before = await client.get(
        f"/api/patients/{patient}/statement/?start={earlier[0]}&end={earlier[1]}"
    )

    assert later.status_code == 200, later.text
    body = later.json()
    assert (body["opening_balance"], body["closing_balance"]) == ("80.00", "80.00")
    assert (body["invoices"], body["payments"], body["refunds"]) == ([], [], [])
    assert body["totals"] == {"invoiced": "0.00", "paid": "0.00", "refunded": "0.00"}
    assert (before.json()["opening_balance"], before.json()["closing_balance"]) == (
        "0.00",
        "0.00",
    )
    assert before.json()["invoices"] == []


async def test_the_statement_pdf_shows_the_figures(client, month, settings):
    patient = month.patient["id"]

    response = await client.get(f"/api/patients/{patient}/statement/?format=pdf")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    start, end = month_of(today(settings))
    assert response.headers["content-disposition"].startswith(
        f'attachment; filename="statement-{patient}-{start}-{end}.pdf"'
    )
    assert response.headers["cache-control"] == "private, no-store"
    found = text_in(response.content)
    for figure in (
        "Jane Doe",
        month.session["number"],
        month.manual["number"],
        month.voided["number"],
        "void",
        "120.00 USD",
        "80.00 USD",
        "15.00 USD",
        "20.00 USD",
        "200.00 USD",
        f"{start} to {end}",
        "Balance due 80.00 USD",
    ):
        assert figure in found, figure


async def test_the_superbill_lists_each_session_with_its_npi_and_what_was_paid(
    client, month, engine
):
    patient = month.patient["id"]
    put = await client.put(f"/api/patients/{patient}/diagnoses/", json={"codes": ["f411", "F33.0"]})
    assert put.status_code == 200, put.text

    response = await client.get(f"/api/patients/{patient}/superbill/?{JANUARY}")

    assert response.status_code == 200, response.text
    superbill = response.json()
    superbill.pop("generated_at")
    assert superbill == {
        "practice": {
            "name": "TherapyConnect Practice",
            "address": "",
            "tax_id": None,
            "npi": None,
        },
        "patient": {
            "id": patient,
            "name": "Jane Doe",
            "date_of_birth": "1990-05-17",
            "address": "22 Elm Road\nSpringfield, IL 62704",
        },
        "period": {"start": "2030-01-01", "end": "2030-01-31"},
        "currency": "USD",
        "diagnosis_codes": ["F41.1", "F33.0"],
        "lines": [
            {
                "date_of_service": SESSION_DAY,
                "service_code": "90834",
                "description": "90834 Psychotherapy, 45 minutes",
                "therapist_name": "Dr. Rivera",
                "therapist_npi": NPI,
                "fee": "120.00",
                "amount_paid": "100.00",  # 120.00 paid, less the 20.00 refunded
            }
        ],
        "totals": {"fees": "120.00", "paid": "100.00"},
    }
    # The manual invoice, the void one and the draft are not sessions; February has none.
    february = await client.get(
        f"/api/patients/{patient}/superbill/?start=2030-02-01&end=2030-02-28"
    )
    assert february.json()["lines"] == []
    assert february.json()["totals"] == {"fees": "0.00", "paid": "0.00"}
    audited = await events(engine, action="get_superbill")
    assert [(e["patient_id"], e["status_code"]) for e in audited] == [(patient, 200)] * 2


async def test_the_superbill_pdf_shows_the_codes_npis_and_figures(client, month):
    patient = month.patient["id"]
    await client.put(f"/api/patients/{patient}/diagnoses/", json={"codes": ["F41.1"]})

    response = await client.get(
        f"/api/patients/{patient}/superbill/?{JANUARY}", headers={"Accept": "application/pdf"}
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith(
        f'attachment; filename="superbill-{patient}-2030-01-01-2030-01-31.pdf"'
    )
    found = text_in(response.content)
    for figure in (
        "Jane Doe",
        "1990-05-17",
        "22 Elm Road",
        "F41.1",
        SESSION_DAY,
        "90834",
        "Dr. Rivera",
        NPI,
        "Total fees 120.00 USD",
        "Total paid 100.00 USD",
    ):
        assert figure in found, figure


async def test_what_was_paid_is_shared_among_an_invoices_lines(client, month, engine):
    """A session invoice of two lines, 120 and 40, on which 100 was paid net of refunds: 75
    and 25."""
    patient = month.patient["id"]
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO invoice_lines (invoice_id, position, description, service_code, "
                "date_of_service, therapist_id, quantity, unit_price, amount) VALUES "
                "(:i, 2, 'Interactive complexity', '90785', :d, :t, 1, 40, 40)"
            ),
            {
                "i": month.session["id"],
                "d": date.fromisoformat(SESSION_DAY),
                "t": month.therapist_id,
            },
        )
        await connection.execute(
            text("UPDATE invoices SET total = 160 WHERE id = :i"), {"i": month.session["id"]}
        )

    lines = (await client.get(f"/api/patients/{patient}/superbill/?{JANUARY}")).json()["lines"]

    assert [(line["service_code"], line["fee"], line["amount_paid"]) for line in lines] == [
        ("90834", "120.00", "75.00"),
        ("90785", "40.00", "25.00"),
    ]


@pytest.mark.parametrize(
    ("accept", "query", "pdf"),
    [
        (None, "", False),
        ("*/*", "", False),
        ("application/json", "", False),
        ("application/pdf", "", True),
        ("application/pdf;q=0.9, application/json;q=0.5", "", True),
        ("application/pdf;q=0.4, application/json", "", False),
        ("application/pdf;q=0", "", False),
        ("application/*", "", False),
        ("text/html", "", False),
        ("application/pdf", "format=json", False),
        ("application/json", "format=pdf", True),
        (None, "format=pdf", True),
    ],
)
async def test_the_format_is_negotiated(client, accept, query, pdf):
    patient = await create_patient(client)
    headers = {"Accept": accept} if accept is not None else {}

    response = await client.get(
        f"/api/patients/{patient['id']}/statement/?{query}", headers=headers
    )

    assert response.status_code == 200, response.text
    expected = "application/pdf" if pdf else "application/json"
    assert response.headers["content-type"] == expected
    assert response.content.startswith(b"%PDF-") is pdf


async def test_an_unknown_format_is_a_400(client):
    patient = await create_patient(client)

    response = await client.get(f"/api/patients/{patient['id']}/superbill/?format=xml")

    assert response.status_code == 400
    assert list(response.json()) == ["format"]


@pytest.mark.parametrize("document", ["statement", "superbill"])
@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("start=2026-03-31&end=2026-03-01", "end", "Must not be before start."),
        ("start=2025-01-01&end=2026-01-02", "end", "The period may be at most 366 days."),
        ("end=yesterday", "end", None),
        (
            "start=0",
            "start",
            "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
        ),
        ("start=2026-3-1", "start", None),
        ("start=2026-02-30", "start", "Enter a valid date."),
    ],
)
async def test_the_period_is_checked(client, document, query, field, message):
    patient = await create_patient(client)

    response = await client.get(f"/api/patients/{patient['id']}/{document}/?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    if message is not None:
        assert response.json()[field] == [message]


async def test_the_period_defaults(client, settings):
    patient = await create_patient(client)
    url = f"/api/patients/{patient['id']}/statement/"
    start, end = month_of(today(settings))

    assert (await client.get(url)).json()["period"] == {
        "start": start.isoformat(),
        "end": end.isoformat(),
    }
    assert (await client.get(f"{url}?start=2024-02-10")).json()["period"] == {
        "start": "2024-02-10",
        "end": "2024-02-29",
    }
    assert (await client.get(f"{url}?end=2025-12-15")).json()["period"] == {
        "start": "2025-12-01",
        "end": "2025-12-15",
    }
    longest = await client.get(f"{url}?start=2024-01-01&end=2024-12-31")
    assert longest.status_code == 200  # 366 days, a leap year


@pytest.mark.parametrize("document", ["statement", "superbill", "diagnoses"])
async def test_who_may_read(client, staff_client, patient_client, month, document):
    patient = month.patient["id"]
    url = f"/api/patients/{patient}/{document}/"
    own = await patient_client(patient)
    other = await create_patient(client)
    stranger = await patient_client(other["id"])
    therapist = await staff_client("therapist")

    assert (await own.get(url)).status_code == 200
    assert (await own.get(f"{url}?format=pdf")).status_code == 200
    assert (await therapist.get(url)).status_code == 200
    assert (await stranger.get(url)).status_code == 403
    assert (await stranger.get(f"{url}?format=pdf")).status_code == 403
    assert (await client.get("/api/patients/p_zzzzzz/" + document + "/")).status_code == 404
    assert (await client.get("/api/patients/nope/" + document + "/")).status_code == 404

"""Statements and superbills as PDF: each is read back with pypdf, and every figure, code, date,
number and name of its JSON shape is found in its text; names the core fonts cannot write do not
break it; a long superbill runs onto further pages and keeps every line."""

import copy
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pypdf
import pytest

from app.core.config import get_settings
from app.statements.pdf import money, printable, statement_pdf, superbill_pdf
from app.statements.schemas import (
    STATEMENT,
    SUPERBILL,
    Practice,
    StatementRead,
    SuperbillRead,
)

ZONE = ZoneInfo("America/Chicago")
PRACTICE = Practice(
    name="Lakeside Counselling Group",
    address="1 Main Street\nSuite 200\nSpringfield, IL 62701",
    tax_id="12-3456789",
    npi="1234567893",
)


def read(document: bytes) -> pypdf.PdfReader:
    assert document.startswith(b"%PDF-")
    return pypdf.PdfReader(io.BytesIO(document))


def text_of(document: bytes) -> str:
    """All pages' text, each run of whitespace one space (a wrapped cell reads as one)."""
    pages = read(document).pages
    return " ".join(" ".join(page.extract_text().split()) for page in pages)


def local_day(moment: datetime) -> str:
    return moment.astimezone(ZONE).date().isoformat()


def statement(**changes: Any) -> StatementRead:
    data = copy.deepcopy(STATEMENT)
    data.update(changes)
    return StatementRead.model_validate(data)


def superbill(**changes: Any) -> SuperbillRead:
    data = copy.deepcopy(SUPERBILL)
    data.update(changes)
    return SuperbillRead.model_validate(data)


def service_lines(count: int) -> list[dict[str, Any]]:
    first = date(2026, 1, 5)
    return [
        {
            "date_of_service": (first + timedelta(days=index)).isoformat(),
            "service_code": ("90834", "90837", "90791")[index % 3],
            "description": f"Psychotherapy session {index + 1} of {count}, individual, in person",
            "therapist_name": ("Dr. Rivera", "Dr. Okafor")[index % 2],
            "therapist_npi": ("1003000126", "1982736450")[index % 2],
            "fee": f"{100 + index}.50",
            "amount_paid": f"{index}.25",
        }
        for index in range(count)
    ]


def test_a_statement_shows_every_figure_date_number_and_name():
    document = statement(
        invoices=[
            *STATEMENT["invoices"],
            {
                "id": 350,
                "number": "2026-000350",
                "issued_at": "2026-03-31T23:30:00Z",  # still March 31 in Chicago
                "status": "uncollectible",
                "total": "12345.60",
                "amount_paid": "0.00",
                "amount_due": "12345.60",
            },
        ],
        payments=[
            *STATEMENT["payments"],
            {
                "id": 96,
                "received_at": "2026-03-21T10:00:00Z",
                "method": "bank_transfer",
                "amount": "75.05",
                "invoices": ["2026-000342"],
            },
        ],
        totals={"invoiced": "12585.60", "paid": "235.05", "refunded": "20.00"},
        opening_balance="-15.00",
        closing_balance="12355.55",
    )
    text = text_of(statement_pdf(document, practice=PRACTICE, zone=ZONE))

    expected = [
        "Statement",
        PRACTICE.name,
        "1 Main Street",
        "Suite 200",
        "Springfield, IL 62701",
        document.patient.name,
        document.patient.id,
        "2026-03-01 to 2026-03-31",
        "2026-04-01 03:00 CDT",  # generated_at, 08:00 UTC on the clinic's clock
        "-15.00 USD",
        "12,585.60 USD",
        "235.05 USD",
        "20.00 USD",
        "Balance due 12,355.55 USD",
        "bank transfer",
    ]
    for invoice in document.invoices:
        expected += [invoice.number, local_day(invoice.issued_at), invoice.status]
        expected += [money(value, "USD") for value in (invoice.total, invoice.amount_paid)]
        expected.append(money(invoice.amount_due, "USD"))
    for payment in document.payments:
        expected += [local_day(payment.received_at), money(payment.amount, "USD")]
        expected.append(", ".join(payment.invoices))
    for refund in document.refunds:
        expected += [local_day(refund.created_at), f"#{refund.payment}"]
        expected.append(money(refund.amount, "USD"))
    assert [item for item in expected if item not in text] == []
    assert "2026-03-31 uncollectible 12,345.60 USD 0.00 USD 12,345.60 USD" in text


def test_a_statement_of_a_quiet_period_says_so():
    document = statement(invoices=[], payments=[], refunds=[])
    text = text_of(statement_pdf(document, practice=PRACTICE, zone=ZONE))
    assert "No invoices in this period." in text
    assert "No payments in this period." in text
    assert "Refunds" not in text


def test_a_statement_is_headed_by_the_practice_of_the_settings_unless_given():
    text = text_of(statement_pdf(statement()))
    assert get_settings().practice_name in text


def test_a_superbill_shows_every_figure_code_date_number_and_name():
    document = superbill(lines=service_lines(4), totals={"fees": "406.00", "paid": "6.00"})
    text = text_of(superbill_pdf(document, zone=ZONE))

    practice, patient = document.practice, document.patient
    expected = [
        "Superbill",
        practice.name,
        "1 Main Street",
        "Springfield, IL 62701",
        f"Tax id (EIN) {practice.tax_id}",
        f"NPI {practice.npi}",
        f"Name {patient.name}",
        patient.id,
        f"Date of birth {patient.date_of_birth.isoformat()}",
        "22 Elm Road",
        "Springfield, IL 62704",
        "2026-03-01 to 2026-03-31",
        "F41.1, F33.0",
        "Total fees 406.00 USD",
        "Total paid 6.00 USD",
    ]
    for line in document.lines:
        expected += [
            line.date_of_service.isoformat(),
            line.service_code,
            line.description,
            line.therapist_name,
            line.therapist_npi or "",
            money(line.fee, "USD"),
            money(line.amount_paid, "USD"),
        ]
    assert [item for item in expected if item not in text] == []
    first = document.lines[0]
    assert (
        f"{first.date_of_service.isoformat()} {first.service_code} {first.description} "
        f"{first.therapist_name} {first.therapist_npi} 100.50 USD 0.25 USD"
    ) in text


def test_a_superbill_leaves_out_what_the_practice_has_not_set():
    data = copy.deepcopy(SUPERBILL)
    data["practice"] = {"name": "Solo Practice", "address": "", "tax_id": None, "npi": None}
    data["patient"]["address"] = None
    data["lines"][0]["therapist_npi"] = None
    text = text_of(superbill_pdf(SuperbillRead.model_validate(data), zone=ZONE))
    assert "Solo Practice" in text
    assert "EIN" not in text
    assert "Address" not in text
    assert "Dr. Rivera 120.00 USD" in text


def test_a_long_superbill_runs_onto_more_pages_and_keeps_every_line():
    lines = service_lines(60)
    fees = sum((Decimal(line["fee"]) for line in lines), Decimal(0))
    paid = sum((Decimal(line["amount_paid"]) for line in lines), Decimal(0))
    document = superbill(lines=lines, totals={"fees": str(fees), "paid": str(paid)})
    rendered = superbill_pdf(document, zone=ZONE)

    pages = read(rendered).pages
    assert len(pages) > 1
    text = text_of(rendered)
    for line in document.lines:
        assert text.count(line.description) == 1, line.description
    # The table's headings repeat on each page it runs onto; each page is numbered.
    assert text.count("Therapist NPI") == len(pages)
    for number in range(1, len(pages) + 1):
        assert f"Page {number} of {len(pages)}" in pages[number - 1].extract_text()
    assert f"Total fees {money(fees, 'USD')}" in text
    assert f"Total paid {money(paid, 'USD')}" in text


def test_a_name_in_latin_letters_is_written_as_it_is():
    document = superbill()
    document.patient.name = "Zoë Ångström"
    text = text_of(superbill_pdf(document, zone=ZONE))
    assert "Name Zoë Ångström" in text


def test_a_name_the_core_fonts_cannot_write_does_not_break_the_document():
    """Chinese characters become question marks; other letters their base letter."""
    document = statement(patient={"id": "p_zxcp0h", "name": "王小明 (Wang Xiaoming)"})
    text = text_of(statement_pdf(document, practice=PRACTICE, zone=ZONE))
    assert "Patient ??? (Wang Xiaoming)" in text
    assert "p_zxcp0h" in text

    bill = superbill()
    bill.patient.name = "Łucja Dvořák-Nguyễn"
    bill.lines[0].therapist_name = "Dr. 李"
    bill.practice.address = "Praxis am Ring\nKöln \u2013 50667 €"
    text = text_of(superbill_pdf(bill, zone=ZONE))
    assert "Name Lucja Dvorák-Nguyen" in text
    assert "Dr. ?" in text
    assert "Köln \u2013 50667 €" in text


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ("Zoë Ångström", "Zoë Ångström"),
        ("Œuvre \u2013 „quoted“ €", "Œuvre \u2013 „quoted“ €"),  # Windows-1252 has them
        ("Łódź", "Lódz"),  # ó is in Windows-1252
        ("\u0131", "i"),  # dotless i
        ("\uff21\uff42\uff43", "Abc"),  # full-width letters, by compatibility
        ("王小明", "???"),
        ("a\tb\x00c", "a b c"),
        ("a\nb", "a b"),
        ("😀", "?"),
    ],
)
def test_what_the_core_fonts_cannot_write_is_folded_or_replaced(given, written):
    assert printable(given) == written


def test_line_feeds_are_kept_where_lines_are_wanted():
    assert printable("a\r\nb\nc", multiline=True) == "a\nb\nc"


def test_the_metadata_names_the_document_and_no_one():
    document = superbill()
    metadata = read(superbill_pdf(document, zone=ZONE)).metadata
    assert metadata is not None
    assert metadata.title == "Superbill 2026-03-01 to 2026-03-31"
    assert metadata.author is None
    assert metadata.subject is None
    values = " ".join(str(value) for value in metadata.values())
    assert document.patient.name not in values
    assert document.patient.id not in values

    metadata = read(statement_pdf(statement(), practice=PRACTICE, zone=ZONE)).metadata
    assert metadata is not None
    assert metadata.title == "Statement 2026-03-01 to 2026-03-31"
    assert metadata.author is None


def test_the_document_is_dated_when_it_was_generated():
    metadata = read(superbill_pdf(superbill(), zone=ZONE)).metadata
    assert metadata is not None
    assert metadata.creation_date == datetime(2026, 4, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("page_format", "width"), [("Letter", 612), ("A4", 595.28)])
def test_a_document_is_letter_or_a4(page_format, width):
    document = statement_pdf(statement(), practice=PRACTICE, zone=ZONE, page_format=page_format)
    assert float(read(document).pages[0].mediabox.width) == pytest.approx(width, abs=0.01)


def test_money_has_two_places_and_its_currency():
    assert money(Decimal("0"), "EUR") == "0.00 EUR"
    assert money(Decimal("1234567.5"), "USD") == "1,234,567.50 USD"
    assert money(Decimal("-10"), "USD") == "-10.00 USD"

"""A statement and a superbill as PDF documents, drawn with fpdf2 from their JSON shapes
(app.statements.schemas), so that the PDF and the JSON never disagree.

Text is set in the PDF's core fonts (Helvetica), which need no font file and keep a document a
few kilobytes, drawn in milliseconds. They encode Windows-1252 only: a character outside it is
written as its base letter where it has one (Dvořák as Dvorák, Łódź as Lódz) and as `?`
otherwise (a Chinese name becomes question marks); the JSON answer keeps the name as it is.
Rendering is CPU work (about 70 ms for 60 services): a route runs it in a worker thread
(anyio.to_thread.run_sync), not on the event loop.
"""

import re
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from fpdf import FPDF, XPos, YPos

from app.core.config import get_settings
from app.statements.schemas import Period, Practice, StatementRead, SuperbillRead

ENCODING = "cp1252"
REPLACEMENT = "?"
# Letters that Unicode does not decompose into a base letter and a mark.
_FOLDED = str.maketrans("ŁłĐđĦħ\u0131ŦŧĸŊŋ", "LlDdHhiTtkNn")  # \u0131: dotless i
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
PageFormat = Literal["A4", "Letter"]
FONT = "Helvetica"
MARGIN = 15.0
LINE = 5.0
GRID_SIZE = 9.0
GRID_LINE = 4.2
PADDING = 1.2


def printable(text: str, *, multiline: bool = False) -> str:
    """`text` as the core fonts can write it: control characters as spaces (line feeds kept when
    `multiline`), and each character outside Windows-1252 as its base letter, or `?`."""
    if _encodable(text) and not _CONTROL.search(text):
        return text
    kept: list[str] = []
    for character in text.replace("\r\n", "\n").translate(_FOLDED):
        if multiline and character == "\n":
            kept.append(character)
        elif unicodedata.category(character) == "Cc":
            kept.append(" ")
        elif _encodable(character):
            kept.append(character)
        else:
            decomposed = unicodedata.normalize("NFKD", character)
            base = "".join(part for part in decomposed if not unicodedata.combining(part))
            kept.append(base if base and _encodable(base) else REPLACEMENT)
    return "".join(kept)


def _encodable(text: str) -> bool:
    try:
        text.encode(ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def money(value: Decimal, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def day(value: date) -> str:
    return value.isoformat()


def moment(value: datetime, zone: ZoneInfo) -> str:
    """A datetime as the clinic's clock shows it."""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def local_day(value: datetime, zone: ZoneInfo) -> str:
    """The clinic's calendar day of a datetime."""
    return day(value.astimezone(zone).date())


def period_text(period: Period) -> str:
    return f"{day(period.start)} to {day(period.end)}"


class _Document(FPDF):
    """A page with the practice's name in its footer and its number of pages."""

    def __init__(
        self, title: str, footer: str, page_format: PageFormat, generated_at: datetime
    ) -> None:
        super().__init__(orientation="portrait", unit="mm", format=page_format)
        self.core_fonts_encoding = ENCODING
        self.footer_text = printable(footer)
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=MARGIN + 5)
        # Metadata: a title without PHI, no author; the producer is fpdf2's.
        self.set_title(title)
        self.set_lang("en")
        self.set_creation_date(generated_at)
        self.alias_nb_pages()
        self._headings: list[str] = []
        self.add_page()

    def footer(self) -> None:
        self.set_y(-MARGIN)
        self.set_font(FONT, size=8)
        self.set_text_color(110)
        self.cell(0, LINE, self.footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, LINE, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0)

    def text_line(self, text: str, *, size: float = 10, style: str = "") -> None:
        self.set_font(FONT, style=style, size=size)
        self.multi_cell(
            0, size * 0.5, printable(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L"
        )

    def lines(self, text: str, *, size: float = 10) -> None:
        for line in text.splitlines():
            if line.strip():
                self.text_line(line.strip(), size=size)

    def heading(self, text: str) -> None:
        self.ln(3)
        self.text_line(text, size=12, style="B")
        self.ln(1)

    def pairs(self, rows: Sequence[tuple[str, str]], *, width: float = 45) -> None:
        """Labels and values, one pair a line."""
        for label, value in rows:
            self.set_font(FONT, style="B", size=10)
            self.cell(width, LINE, printable(label))
            self.set_font(FONT, size=10)
            self.multi_cell(
                0, LINE, printable(value, multiline=True), new_x=XPos.LMARGIN, new_y=YPos.NEXT
            )

    def grid(
        self,
        headings: Sequence[str],
        widths: Sequence[float],
        rows: Sequence[Sequence[str]],
        right: frozenset[int] = frozenset(),
    ) -> None:
        """A table whose headings repeat on each page it runs onto, its cells wrapped at spaces;
        columns in `right` (the amounts) are aligned right. `widths` are shares of the page's
        width. Drawn with text() rather than fpdf2's table(), whose line breaking took 10 ms a
        row."""
        scale = self.epw / sum(widths)
        columns = [width * scale for width in widths]
        self._grid_row(headings, columns, right, heading=True)
        for cells in rows:
            self._grid_row(cells, columns, right)

    def _grid_row(
        self,
        cells: Sequence[str],
        columns: Sequence[float],
        right: frozenset[int],
        *,
        heading: bool = False,
    ) -> None:
        self.set_font(FONT, style="B" if heading else "", size=GRID_SIZE)
        wrapped = [
            self._wrap(printable(text), width - 2 * PADDING)
            for text, width in zip(cells, columns, strict=True)
        ]
        height = max(len(lines) for lines in wrapped) * GRID_LINE + 2 * PADDING
        if self.y + height > self.page_break_trigger:
            self.add_page()
            if not heading:
                self._grid_row(self._headings, columns, right, heading=True)
                self.set_font(FONT, size=GRID_SIZE)
        if heading:
            self._headings = list(cells)
            self.set_fill_color(230)
            self.rect(self.l_margin, self.y, self.epw, height, style="F")
        x = self.l_margin
        top = self.y + PADDING
        for index, (lines, width) in enumerate(zip(wrapped, columns, strict=True)):
            for number, line in enumerate(lines):
                offset = (
                    width - PADDING - self.get_string_width(line) if index in right else PADDING
                )
                self.text(x + offset, top + GRID_LINE * (number + 0.75), line)
            x += width
        self.y += height
        self.set_draw_color(190)
        self.line(self.l_margin, self.y, self.l_margin + self.epw, self.y)

    def _wrap(self, text: str, width: float) -> list[str]:
        """The text in lines no wider than `width`, broken at spaces (a word longer than a line
        is broken where it must be)."""
        if self.get_string_width(text) <= width:
            return [text]
        lines: list[str] = []
        line = ""
        for word in text.split():
            candidate = f"{line} {word}" if line else word
            if self.get_string_width(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while self.get_string_width(word) > width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and self.get_string_width(word[:cut]) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
        return lines

    def rendered(self) -> bytes:
        return bytes(self.output())


def _header(document: _Document, title: str, practice: Practice) -> None:
    document.text_line(practice.name, size=15, style="B")
    document.lines(practice.address, size=9)
    document.ln(4)
    document.text_line(title, size=18, style="B")
    document.ln(2)


def statement_pdf(
    statement: StatementRead,
    *,
    practice: Practice | None = None,
    zone: ZoneInfo | None = None,
    page_format: PageFormat = "Letter",
) -> bytes:
    """The statement as a PDF document, headed by the practice (by default the settings'), its
    times on the clinic's clock (by default CLINIC_TIMEZONE)."""
    settings = get_settings()
    practice = practice or Practice.of(settings)
    zone = zone or settings.clinic_zone
    currency = statement.currency
    document = _Document(
        f"Statement {period_text(statement.period)}",
        practice.name,
        page_format,
        statement.generated_at,
    )
    _header(document, "Statement", practice)
    document.pairs(
        [
            ("Patient", statement.patient.name),
            ("Patient id", statement.patient.id),
            ("Period", period_text(statement.period)),
            ("Generated", moment(statement.generated_at, zone)),
        ]
    )
    document.heading("Invoices")
    if statement.invoices:
        document.grid(
            ["Number", "Issued", "Status", "Total", "Paid", "Due"],
            [24, 18, 16, 20, 20, 20],
            [
                [
                    invoice.number,
                    local_day(invoice.issued_at, zone),
                    invoice.status,
                    money(invoice.total, currency),
                    money(invoice.amount_paid, currency),
                    money(invoice.amount_due, currency),
                ]
                for invoice in statement.invoices
            ],
            right=frozenset({3, 4, 5}),
        )
    else:
        document.text_line("No invoices in this period.")
    document.heading("Payments")
    if statement.payments:
        document.grid(
            ["Received", "Method", "For invoices", "Amount"],
            [18, 18, 44, 20],
            [
                [
                    local_day(payment.received_at, zone),
                    payment.method.replace("_", " "),
                    ", ".join(payment.invoices),
                    money(payment.amount, currency),
                ]
                for payment in statement.payments
            ],
            right=frozenset({3}),
        )
    else:
        document.text_line("No payments in this period.")
    if statement.refunds:
        document.heading("Refunds")
        document.grid(
            ["Date", "Of payment", "Amount"],
            [18, 62, 20],
            [
                [
                    local_day(refund.created_at, zone),
                    f"#{refund.payment}",
                    money(refund.amount, currency),
                ]
                for refund in statement.refunds
            ],
            right=frozenset({2}),
        )
    document.heading("Summary")
    totals = statement.totals
    document.pairs(
        [
            ("Opening balance", money(statement.opening_balance, currency)),
            ("Invoiced", money(totals.invoiced, currency)),
            ("Paid", money(totals.paid, currency)),
            ("Refunded", money(totals.refunded, currency)),
        ],
        width=60,
    )
    document.set_font(FONT, style="B", size=11)
    document.cell(60, LINE + 2, "Balance due")
    document.cell(0, LINE + 2, money(statement.closing_balance, currency))
    return document.rendered()


def superbill_pdf(
    superbill: SuperbillRead, *, zone: ZoneInfo | None = None, page_format: PageFormat = "Letter"
) -> bytes:
    """The superbill as a PDF document, its time of making on the clinic's clock (by default
    CLINIC_TIMEZONE)."""
    zone = zone or get_settings().clinic_zone
    currency = superbill.currency
    practice = superbill.practice
    document = _Document(
        f"Superbill {period_text(superbill.period)}",
        practice.name,
        page_format,
        superbill.generated_at,
    )
    _header(document, "Superbill", practice)
    document.heading("Provider")
    document.pairs(
        [("Practice", practice.name)]
        + ([("Tax id (EIN)", practice.tax_id)] if practice.tax_id else [])
        + ([("NPI", practice.npi)] if practice.npi else [])
    )
    patient = superbill.patient
    document.heading("Patient")
    document.pairs(
        [
            ("Name", patient.name),
            ("Patient id", patient.id),
            ("Date of birth", day(patient.date_of_birth)),
        ]
        + ([("Address", patient.address)] if patient.address else [])
        + [
            ("Period", period_text(superbill.period)),
            ("Generated", moment(superbill.generated_at, zone)),
        ]
    )
    document.heading("Diagnoses (ICD-10-CM)")
    document.text_line(", ".join(superbill.diagnosis_codes) or "None recorded.")
    document.heading("Services")
    if superbill.lines:
        document.grid(
            ["Date", "Code", "Description", "Therapist", "Therapist NPI", "Fee", "Paid"],
            [16, 10, 42, 24, 17, 19, 19],
            [
                [
                    day(line.date_of_service),
                    line.service_code,
                    line.description,
                    line.therapist_name,
                    line.therapist_npi or "",
                    money(line.fee, currency),
                    money(line.amount_paid, currency),
                ]
                for line in superbill.lines
            ],
            right=frozenset({5, 6}),
        )
    else:
        document.text_line("No services in this period.")
    document.heading("Totals")
    document.pairs(
        [
            ("Total fees", money(superbill.totals.fees, currency)),
            ("Total paid", money(superbill.totals.paid, currency)),
        ],
        width=60,
    )
    return document.rendered()

"""The statements' query string, and which format an answer takes: `?format=` (DRF's format
convention) wins, then the Accept header; JSON by default."""

from typing import Annotated

from fastapi import Depends

from app.core.querystring import QueryModel
from app.statements.schemas import StatementQuery

StatementQueryDep = Annotated[StatementQuery, Depends(QueryModel(StatementQuery))]

JSON = "application/json"
PDF = "application/pdf"


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def accepted(accept: str | None, media_type: str) -> tuple[float, int]:
    """How much `accept` wants `media_type`: its quality, and how specific the range that
    matched it (2: the type itself, 1: `application/*`, 0: `*/*`; -1: none)."""
    best = (0.0, -1)
    major = media_type.split("/")[0]
    for item in (accept or "").split(","):
        kind, *parameters = item.split(";")
        kind = kind.strip().lower()
        specificity = {media_type: 2, f"{major}/*": 1, "*/*": 0}.get(kind)
        if specificity is not None and specificity > best[1]:
            best = (_quality(parameters), specificity)
    return best


def wants_pdf(query: StatementQuery, accept: str | None) -> bool:
    """True when the answer is to be a PDF: `?format=pdf`, or (without `format`) an Accept
    header that prefers application/pdf to application/json."""
    if query.format is not None:
        return query.format == "pdf"
    pdf_quality, pdf_match = accepted(accept, PDF)
    json_quality, json_match = accepted(accept, JSON)
    if pdf_match < 0 or pdf_quality <= 0:
        return False
    return (pdf_quality, pdf_match) > (json_quality, json_match)

from typing import Annotated

from fastapi import Depends, Header, Path
from pydantic import AfterValidator

from app.core.fields import error
from app.core.querystring import QueryModel
from app.models.patient import PATIENT_ID
from app.patients.fields import ChangeReason
from app.patients.schemas import PatientListQuery

# An id that cannot exist is simply not found (a 404, app.core.errors): it never reaches the
# database.
PatientIdPath = Annotated[
    str,
    Path(
        description="Patient id, e.g. p_a1b2c3.",
        examples=["p_a1b2c3"],
        pattern=f"^{PATIENT_ID.pattern}$",
    ),
]
PatientListQueryDep = Annotated[PatientListQuery, Depends(QueryModel(PatientListQuery))]


def _ascii(value: str | None) -> str | None:
    # A header's bytes are read as Latin-1: UTF-8 text would be stored garbled.
    if value is not None and not value.isascii():
        raise error(
            "header_ascii", "The X-Change-Reason header must be ASCII; send the body's reason."
        )
    return value


# Why a write changes the record, kept with its version (a body's `reason` overrides it); the
# body's reason's rule, one line of text.
ChangeReasonHeader = Annotated[
    ChangeReason | None,
    AfterValidator(_ascii),
    Header(
        alias="X-Change-Reason",
        description="Why the record changes, kept in its history (one line of ASCII; a body's "
        "`reason` overrides it).",
    ),
]

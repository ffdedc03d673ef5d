from typing import Annotated

from fastapi import Depends, Header, Path

from app.core.querystring import QueryModel
from app.models.history import REASON_MAX_LENGTH
from app.models.patient import PATIENT_ID
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
# Why a write changes the record, kept with its version (a body's `reason` overrides it).
ChangeReasonHeader = Annotated[
    str | None,
    Header(
        alias="X-Change-Reason",
        max_length=REASON_MAX_LENGTH,
        description="Why the record changes, kept in its history (ASCII; a body's `reason` "
        "overrides it).",
    ),
]

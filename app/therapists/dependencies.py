from typing import Annotated

from fastapi import Depends, Path

from app.core.querystring import QueryModel
from app.therapists.schemas import AvailabilityQuery, TherapistListQuery

# An id that cannot exist is simply not found (a 404, app.core.errors): it never reaches the
# database.
ID_MAX = 2**31 - 1
TherapistIdPath = Annotated[
    int, Path(description="The therapist's staff id.", examples=[7], ge=1, le=ID_MAX)
]
TimeOffIdPath = Annotated[
    int, Path(description="The time off's id.", examples=[12], ge=1, le=2**63 - 1)
]
TherapistListQueryDep = Annotated[TherapistListQuery, Depends(QueryModel(TherapistListQuery))]
AvailabilityQueryDep = Annotated[AvailabilityQuery, Depends(QueryModel(AvailabilityQuery))]

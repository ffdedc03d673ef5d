from typing import Annotated

from fastapi import Depends

from app.core.ids import INTEGER_MAX, id_path
from app.core.querystring import QueryModel
from app.therapists.schemas import AvailabilityQuery, TherapistListQuery

# An id that cannot exist is simply not found (a 404, app.core.errors): it never reaches the
# database.
TherapistIdPath = Annotated[int, id_path("The therapist's staff id.", 7, INTEGER_MAX)]
TimeOffIdPath = Annotated[int, id_path("The time off's id.", 12)]
TherapistListQueryDep = Annotated[TherapistListQuery, Depends(QueryModel(TherapistListQuery))]
AvailabilityQueryDep = Annotated[AvailabilityQuery, Depends(QueryModel(AvailabilityQuery))]

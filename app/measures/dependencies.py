from typing import Annotated

from fastapi import Depends

from app.core.ids import id_path
from app.core.querystring import QueryModel
from app.measures.schemas import AlertQuery, TrendQuery

# An id that cannot exist is simply not found (a 404, app.core.errors): it never reaches the
# database.
AssignmentIdPath = Annotated[int, id_path("The assignment's id.", 31)]
RequestIdPath = Annotated[int, id_path("The request's id.", 120)]
MeasureIdPath = Annotated[int, id_path("The response's id.", 77)]
AlertIdPath = Annotated[int, id_path("The alert's id.", 9)]
TrendQueryDep = Annotated[TrendQuery, Depends(QueryModel(TrendQuery))]
AlertQueryDep = Annotated[AlertQuery, Depends(QueryModel(AlertQuery))]

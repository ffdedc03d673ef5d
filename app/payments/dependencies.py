from typing import Annotated

from fastapi import Depends

from app.core.ids import id_path
from app.core.querystring import QueryModel
from app.payments.schemas import BillableServiceQuery, PaymentQuery

# An id that cannot exist is simply not found (a 404, app.core.errors): it never reaches the
# database.
BillableServiceIdPath = Annotated[int, id_path("The billable service's id.", 3)]
BillableServiceQueryDep = Annotated[BillableServiceQuery, Depends(QueryModel(BillableServiceQuery))]
PaymentIdPath = Annotated[int, id_path("The payment's id.", 88)]
PaymentQueryDep = Annotated[PaymentQuery, Depends(QueryModel(PaymentQuery))]

from typing import Annotated

from fastapi import Depends

from app.core.ids import id_path
from app.core.querystring import QueryModel
from app.invoices.schemas import InvoiceQuery

# An id that cannot exist is simply not found (a 404, app.core.errors): it never reaches the
# database.
InvoiceIdPath = Annotated[int, id_path("The invoice's id.", 512)]
InvoiceQueryDep = Annotated[InvoiceQuery, Depends(QueryModel(InvoiceQuery))]

from typing import Annotated

from fastapi import APIRouter, Body, Response, status

from app.audit.actions import Action
from app.auth.access import AdminCaller, SignedInCaller, StaffCaller
from app.auth.dependencies import Caller
from app.core.conditional import ConditionalDep, tag
from app.core.dependencies import PageRequestDep
from app.core.openapi import BODY_ERRORS, COMMON_ERRORS, errors, tagged
from app.core.pagination import Page, paginate
from app.idempotency.dependencies import Idempotent
from app.invoices.dependencies import InvoiceIdPath, InvoiceQueryDep
from app.invoices.schemas import InvoiceCreate, InvoiceRead, InvoiceUpdate, Reason
from app.invoices.service import Invoice, InvoiceService
from app.requests.routing import AuditedRoute

router = APIRouter(prefix="/api/invoices", tags=["invoices"], route_class=AuditedRoute)
ETAG = tagged(resource="invoice")
ETAG_CREATED = tagged(201, "invoice")


def _service(caller: Caller) -> InvoiceService:
    return InvoiceService(caller.work, caller.request.app.state.settings)


def _answer(invoice: Invoice, response: Response) -> InvoiceRead:
    tag(response, invoice.row["version"])
    return InvoiceRead.of(invoice.row, invoice.lines, invoice.payments)


@router.get(
    "/",
    name=Action.LIST_INVOICES,
    response_model=Page[InvoiceRead],
    summary="List invoices",
    response_description="A page of invoices, newest first.",
    responses=errors(400, *COMMON_ERRORS, 404),
)
async def list_invoices(
    caller: SignedInCaller, query: InvoiceQueryDep, page_request: PageRequestDep
) -> Page[InvoiceRead]:
    """Invoices, newest first, filtered by patient, status and year: staff see every
    patient's, a patient only their own."""
    service = _service(caller)
    filters = service.scope(query, await caller.principal())

    async def fetch(offset: int, limit: int) -> list[InvoiceRead]:
        invoices = await service.page(filters, offset=offset, limit=limit)
        return [InvoiceRead.of(i.row, i.lines, i.payments) for i in invoices]

    return await paginate(
        caller.links,
        page_request,
        InvoiceRead,
        count=lambda exact_up_to: service.count(filters, exact_up_to=exact_up_to),
        fetch=fetch,
    )


@router.post(
    "/",
    name=Action.CREATE_INVOICE,
    response_model=InvoiceRead,
    status_code=status.HTTP_201_CREATED,
    summary="Write a manual invoice",
    response_description="The draft written.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 409, 422), **ETAG_CREATED},
)
async def create_invoice(
    payload: InvoiceCreate, caller: StaffCaller, response: Response, _: Idempotent
) -> InvoiceRead:
    """Write a manual invoice as a draft (staff): lines of billable services (at the
    patient's sliding-scale price unless a unit price is given) or of a description and a
    price. It asks for nothing until an admin issues it. A retry with the same
    Idempotency-Key gets the first answer again."""
    invoice = await _service(caller).create(payload, await caller.principal())
    return _answer(invoice, response)


@router.get(
    "/{invoice_id}/",
    name=Action.GET_INVOICE,
    response_model=InvoiceRead,
    summary="Read an invoice",
    response_description="The invoice, with its lines and payments.",
    responses={**errors(*COMMON_ERRORS, 404), **ETAG},
)
async def get_invoice(
    invoice_id: InvoiceIdPath, caller: SignedInCaller, response: Response
) -> InvoiceRead:
    """One invoice (staff, and the patient their own); the ETag is its version."""
    invoice = await _service(caller).get(invoice_id, await caller.principal())
    return _answer(invoice, response)


@router.patch(
    "/{invoice_id}/",
    name=Action.UPDATE_INVOICE,
    response_model=InvoiceRead,
    summary="Change a draft invoice",
    response_description="The draft as changed.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 412), **ETAG},
)
async def update_invoice(
    invoice_id: InvoiceIdPath,
    caller: StaffCaller,
    cond: ConditionalDep,
    payload: Annotated[InvoiceUpdate, Body()] = InvoiceUpdate(),
) -> InvoiceRead:
    """Change a draft's lines (all replaced), memo or due date (staff). An issued invoice is
    a 409: void it, or write a new one."""
    invoice = await _service(caller).update(
        invoice_id, payload, await caller.principal(), cond.versions
    )
    return _answer(invoice, cond.response)


@router.delete(
    "/{invoice_id}/",
    name=Action.DELETE_INVOICE,
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a draft invoice",
    response_description="Deleted; no body.",
    responses=errors(*COMMON_ERRORS, 404, 409, 412),
)
async def delete_invoice(
    invoice_id: InvoiceIdPath, caller: StaffCaller, cond: ConditionalDep
) -> None:
    """Delete a draft (staff); an issued invoice is a 409: it keeps its number for good."""
    await _service(caller).delete(invoice_id, cond.versions)


@router.post(
    "/{invoice_id}/issue/",
    name=Action.ISSUE_INVOICE,
    response_model=InvoiceRead,
    summary="Issue a draft invoice",
    response_description="The invoice, issued.",
    responses={**errors(400, *COMMON_ERRORS, 404, 409, 412, 422), **ETAG},
)
async def issue_invoice(
    invoice_id: InvoiceIdPath, caller: AdminCaller, cond: ConditionalDep, _: Idempotent
) -> InvoiceRead:
    """Issue a draft (admins): it takes the next number of the year and its total is owed in
    the ledger; a total of 0 is paid at once. Anything but a draft is a 409."""
    invoice = await _service(caller).issue(invoice_id, await caller.principal(), cond.versions)
    return _answer(invoice, cond.response)


@router.post(
    "/{invoice_id}/void/",
    name=Action.VOID_INVOICE,
    response_model=InvoiceRead,
    summary="Void an invoice",
    response_description="The invoice, void.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 412), **ETAG},
)
async def void_invoice(
    invoice_id: InvoiceIdPath,
    caller: AdminCaller,
    cond: ConditionalDep,
    payload: Annotated[Reason, Body()] = Reason(),
) -> InvoiceRead:
    """Void an open invoice nothing was paid on (admins): what it asked for is taken back in
    the ledger, and it keeps its number. Otherwise a 400."""
    invoice = await _service(caller).void(
        invoice_id, payload.reason, await caller.principal(), cond.versions
    )
    return _answer(invoice, cond.response)


@router.post(
    "/{invoice_id}/write_off/",
    name=Action.WRITE_OFF_INVOICE,
    response_model=InvoiceRead,
    summary="Write an invoice off",
    response_description="The invoice, uncollectible.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 412), **ETAG},
)
async def write_off_invoice(
    invoice_id: InvoiceIdPath,
    caller: AdminCaller,
    cond: ConditionalDep,
    payload: Annotated[Reason, Body()] = Reason(),
) -> InvoiceRead:
    """Write off what an open invoice still asks for (admins): it becomes uncollectible, and
    the rest is posted to bad debt in the ledger. Otherwise a 400."""
    invoice = await _service(caller).write_off(
        invoice_id, payload.reason, await caller.principal(), cond.versions
    )
    return _answer(invoice, cond.response)

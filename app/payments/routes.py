from typing import Annotated

from fastapi import APIRouter, Body, Header, Request, status

from app.audit.actions import Action
from app.audit.service import AuditEntry
from app.auth.access import AdminCaller, SignedInCaller, StaffCaller, StaffOrSelfCaller
from app.auth.dependencies import Caller
from app.core.dependencies import DatabaseDep, PageRequestDep, SettingsDep, client_address
from app.core.openapi import BODY_ERRORS, COMMON_ERRORS, errors
from app.core.pagination import Page, paginate
from app.idempotency.dependencies import Idempotent
from app.patients.dependencies import PatientIdPath
from app.payments.dependencies import (
    BillableServiceIdPath,
    BillableServiceQueryDep,
    PaymentIdPath,
    PaymentQueryDep,
)
from app.payments.payment_service import Paid, PaymentService
from app.payments.schemas import (
    BillableServiceCreate,
    BillableServiceRead,
    BillableServiceUpdate,
    PaymentCreate,
    PaymentRead,
    RefundCreate,
    RefundRead,
    SlidingScaleRead,
    SlidingScaleSet,
    TopUpCreate,
    WebhookAnswer,
)
from app.payments.service import BillableServiceService, SlidingScaleService
from app.payments.webhooks import PROCESSOR_ACTOR, Webhooks
from app.processor.client import Processor
from app.processor.dependencies import ProcessorDep
from app.requests.routing import AuditedRoute
from app.requests.work import UnitOfWork

router = APIRouter(prefix="/api/billable-services", tags=["payments"], route_class=AuditedRoute)


@router.get(
    "/",
    name=Action.LIST_BILLABLE_SERVICES,
    response_model=Page[BillableServiceRead],
    summary="List billable services",
    response_description="A page of billable services, by code.",
    responses=errors(400, *COMMON_ERRORS, 404),
)
async def list_billable_services(
    caller: StaffCaller,
    query: BillableServiceQueryDep,
    page_request: PageRequestDep,
    settings: SettingsDep,
) -> Page[BillableServiceRead]:
    """The billable services not deleted, by code (staff)."""
    services, currency = BillableServiceService(caller.work), settings.currency
    filters = query.model_dump()

    async def fetch(offset: int, limit: int) -> list[BillableServiceRead]:
        rows = await services.page(filters, offset=offset, limit=limit)
        return [BillableServiceRead.of(row, currency) for row in rows]

    return await paginate(
        caller.links,
        page_request,
        BillableServiceRead,
        count=lambda exact_up_to: services.count(filters, exact_up_to=exact_up_to),
        fetch=fetch,
    )


@router.post(
    "/",
    name=Action.CREATE_BILLABLE_SERVICE,
    response_model=BillableServiceRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add a billable service",
    response_description="The billable service added.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 409, 422),
)
async def create_billable_service(
    payload: BillableServiceCreate, caller: AdminCaller, settings: SettingsDep, _: Idempotent
) -> BillableServiceRead:
    """Add a service the practice bills (admins); a code another service not deleted has is a
    400 on `code`. A retry with the same Idempotency-Key gets the first answer again."""
    service = await BillableServiceService(caller.work).create(payload.model_dump())
    return BillableServiceRead.of(service, settings.currency)


@router.get(
    "/{service_id}/",
    name=Action.GET_BILLABLE_SERVICE,
    response_model=BillableServiceRead,
    summary="Read a billable service",
    response_description="The billable service.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def get_billable_service(
    service_id: BillableServiceIdPath, caller: StaffCaller, settings: SettingsDep
) -> BillableServiceRead:
    """One billable service (staff); a deleted one is a 404."""
    service = await BillableServiceService(caller.work).get(service_id)
    return BillableServiceRead.of(service, settings.currency)


@router.patch(
    "/{service_id}/",
    name=Action.UPDATE_BILLABLE_SERVICE,
    response_model=BillableServiceRead,
    summary="Change a billable service",
    response_description="The billable service as changed.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404),
)
async def update_billable_service(
    service_id: BillableServiceIdPath,
    caller: AdminCaller,
    settings: SettingsDep,
    payload: Annotated[BillableServiceUpdate, Body()] = BillableServiceUpdate(),
) -> BillableServiceRead:
    """Change any of a service's fields (admins); `{}` changes nothing."""
    changes = payload.model_dump(exclude_unset=True)
    service = await BillableServiceService(caller.work).update(service_id, changes)
    return BillableServiceRead.of(service, settings.currency)


@router.delete(
    "/{service_id}/",
    name=Action.DELETE_BILLABLE_SERVICE,
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a billable service",
    response_description="Deleted (kept for the invoices that name it); no body.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def delete_billable_service(service_id: BillableServiceIdPath, caller: AdminCaller) -> None:
    """Delete a billable service (admins): it is gone from the list and reads, and kept for the
    invoices that name it; its code may be given to a new service."""
    await BillableServiceService(caller.work).delete(service_id)


scale_router = APIRouter(
    prefix="/api/patients/{patient_id}/sliding-scale", tags=["payments"], route_class=AuditedRoute
)


@scale_router.get(
    "/",
    name=Action.GET_SLIDING_SCALE,
    response_model=SlidingScaleRead,
    summary="Read a patient's sliding scale",
    response_description="The patient's sliding scale.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def get_sliding_scale(
    patient_id: PatientIdPath, caller: StaffOrSelfCaller
) -> SlidingScaleRead:
    """The share of a service's price the patient pays, and why (staff, and the patient their
    own); a 404 when none is set: they pay the full price."""
    return SlidingScaleRead.of(await SlidingScaleService(caller.work).get(patient_id))


@scale_router.put(
    "/",
    name=Action.SET_SLIDING_SCALE,
    response_model=SlidingScaleRead,
    summary="Set a patient's sliding scale",
    response_description="The patient's sliding scale, as set.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404),
)
async def set_sliding_scale(
    patient_id: PatientIdPath, payload: SlidingScaleSet, caller: StaffCaller
) -> SlidingScaleRead:
    """Set or replace the percent of a service's price the patient pays, with the reason
    (staff). The reason is kept with the scale, not in the audit trail."""
    actor = await caller.principal()
    scale = await SlidingScaleService(caller.work).set(patient_id, payload, actor)
    return SlidingScaleRead.of(scale)


@scale_router.delete(
    "/",
    name=Action.DELETE_SLIDING_SCALE,
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a patient's sliding scale",
    response_description="Removed: the patient pays the full price; no body.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def delete_sliding_scale(patient_id: PatientIdPath, caller: StaffCaller) -> None:
    """Remove the patient's sliding scale (staff): they pay the full price again. A 404 when
    none is set."""
    await SlidingScaleService(caller.work).delete(patient_id)


payments_router = APIRouter(prefix="/api/payments", tags=["payments"], route_class=AuditedRoute)
top_up_router = APIRouter(
    prefix="/api/patients/{patient_id}/wallet", tags=["payments"], route_class=AuditedRoute
)


def _payments(caller: Caller, processor: Processor) -> PaymentService:
    return PaymentService(caller.work, caller.request.app.state.settings, processor)


def _paid(paid: Paid) -> PaymentRead:
    return PaymentRead.of(paid.payment, paid.allocations, paid.next_action)


@payments_router.get(
    "/",
    name=Action.LIST_PAYMENTS,
    response_model=Page[PaymentRead],
    summary="List payments",
    response_description="A page of payments, newest first.",
    responses=errors(400, *COMMON_ERRORS, 404),
)
async def list_payments(
    caller: SignedInCaller,
    query: PaymentQueryDep,
    page_request: PageRequestDep,
    processor: ProcessorDep,
) -> Page[PaymentRead]:
    """Payments, newest first: staff see every patient's (or one's, with `patient`), a patient
    only their own."""
    service = _payments(caller, processor)
    patient = service.scope(query.patient, await caller.principal())

    async def fetch(offset: int, limit: int) -> list[PaymentRead]:
        return [_paid(paid) for paid in await service.page(patient, offset=offset, limit=limit)]

    return await paginate(
        caller.links,
        page_request,
        PaymentRead,
        count=lambda exact_up_to: service.count(patient, exact_up_to=exact_up_to),
        fetch=fetch,
    )


@payments_router.post(
    "/",
    name=Action.CREATE_PAYMENT,
    response_model=PaymentRead,
    status_code=status.HTTP_201_CREATED,
    summary="Pay invoices",
    response_description="The payment: succeeded, failed (declined, with failure_message), or "
    "requires_action (next_action says how to finish it).",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 422, 502),
)
async def create_payment(
    payload: PaymentCreate, caller: SignedInCaller, processor: ProcessorDep, _: Idempotent
) -> PaymentRead:
    """Pay one or several chosen open invoices of one patient, each in full: by a card on file
    (charged off-session), from the wallet, or, recorded by staff, in cash, by cheque or bank
    transfer. A patient pays their own. Two attempts at once on one invoice charge once: the
    second waits, then finds it paid (400) or its payment under way (409). A card that needs
    3-D Secure answers `requires_action` with `next_action`; that is not a failure."""
    paid = await _payments(caller, processor).pay(payload, await caller.principal())
    return _paid(paid)


@payments_router.get(
    "/{payment_id}/",
    name=Action.GET_PAYMENT,
    response_model=PaymentRead,
    summary="Read a payment",
    response_description="The payment.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def get_payment(
    payment_id: PaymentIdPath, caller: SignedInCaller, processor: ProcessorDep
) -> PaymentRead:
    """One payment (staff, and the patient their own)."""
    return _paid(await _payments(caller, processor).get(payment_id, await caller.principal()))


@payments_router.post(
    "/{payment_id}/refresh/",
    name=Action.REFRESH_PAYMENT,
    response_model=PaymentRead,
    summary="Refresh a card payment",
    response_description="The payment, as the processor now knows it.",
    responses=errors(*COMMON_ERRORS, 404, 502),
)
async def refresh_payment(
    payment_id: PaymentIdPath, caller: SignedInCaller, processor: ProcessorDep
) -> PaymentRead:
    """Ask the processor how a card payment under way stands (after 3-D Secure, say) and
    record it, as its webhook would."""
    paid = await _payments(caller, processor).refresh(payment_id, await caller.principal())
    return _paid(paid)


@payments_router.post(
    "/{payment_id}/refund/",
    name=Action.REFUND_PAYMENT,
    response_model=RefundRead,
    status_code=status.HTTP_201_CREATED,
    summary="Refund a payment",
    response_description="The refund.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 422, 502),
)
async def refund_payment(
    payment_id: PaymentIdPath,
    caller: AdminCaller,
    processor: ProcessorDep,
    _: Idempotent,
    payload: Annotated[RefundCreate, Body()] = RefundCreate(),
) -> RefundRead:
    """Refund part or all of what is left of a succeeded payment (admins): a card's through
    the processor, a wallet payment back to the wallet, cash by hand. More than is left is a
    400 on `amount`; the whole rest when `amount` is omitted."""
    refund = await _payments(caller, processor).refund(
        payment_id, payload, await caller.principal()
    )
    return RefundRead.of(refund)


@top_up_router.post(
    "/top_up/",
    name=Action.TOP_UP_WALLET,
    response_model=PaymentRead,
    status_code=status.HTTP_201_CREATED,
    summary="Top up the wallet by card",
    response_description="The top-up payment.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 422, 502),
)
async def top_up_wallet(
    patient_id: PatientIdPath,
    payload: TopUpCreate,
    caller: StaffOrSelfCaller,
    processor: ProcessorDep,
    _: Idempotent,
) -> PaymentRead:
    """Charge a card on file (the default unless named) and put the amount in the wallet."""
    paid = await _payments(caller, processor).top_up(patient_id, payload, await caller.principal())
    return _paid(paid)


webhook_router = APIRouter(
    prefix="/api/payments/stripe", tags=["payments"], route_class=AuditedRoute
)


@webhook_router.post(
    "/webhook/",
    name=Action.STRIPE_WEBHOOK,
    response_model=WebhookAnswer,
    summary="Stripe's webhook",
    response_description="The event was applied, was a replay, or is not one the service uses.",
    responses=errors(400, 503),
)
async def stripe_webhook(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    processor: ProcessorDep,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> WebhookAnswer:
    """For Stripe, not for clients. The `Stripe-Signature` is checked on the raw body with the
    SDK (STRIPE_WEBHOOK_TOLERANCE_SECONDS): a bad, missing or stale one is a 400 that changes
    nothing. Each event is applied once: recorded by its id with its effect, so a replay
    answers `duplicate`; events out of order never move a payment backwards. Handled:
    PaymentIntents succeeded, failed, canceled or needing action; refunds; disputes (flagged
    for admins); a card saved (SetupIntent succeeded) or detached. Others answer `ignored`."""
    event = await processor.parse_event(await request.body(), stripe_signature)
    entry = AuditEntry(
        action=Action.STRIPE_WEBHOOK,
        actor=PROCESSOR_ACTOR,
        actor_kind="processor",
        patient_id=None,
        client_address=client_address(request),
    )
    async with UnitOfWork(database, entry) as work:
        outcome = await Webhooks(work, settings, processor).apply(event)
    return WebhookAnswer(event=event.id, outcome=outcome)

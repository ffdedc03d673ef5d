from fastapi import APIRouter

from app.audit.routing import AuditedRoute
from app.auth.access import allow
from app.auth.dependencies import CurrentPrincipal
from app.auth.permissions import Access
from app.core.conditional import ConditionalDep
from app.core.dependencies import JsonBody, LinksDep, PageRequestDep
from app.core.openapi import BODY_ERRORS, COMMON_ERRORS, errors, tagged
from app.core.pagination import Page, paginate
from app.idempotency.dependencies import Idempotent
from app.patients.dependencies import PatientIdPath
from app.patients.schemas import PatientRead, patient_answer
from app.wallet.dependencies import WalletServiceDep
from app.wallet.schemas import WalletTransactionRead, WalletUpdate

router = APIRouter(prefix="/api/patients/{patient_id}", tags=["patients"], route_class=AuditedRoute)


@router.post(
    "/update_wallet/",
    response_model=PatientRead,
    dependencies=[allow(Access.STAFF), JsonBody, Idempotent],
    summary="Change the wallet balance",
    response_description="The patient as changed.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 412, 422), **tagged()},
)
async def update_wallet(
    patient_id: PatientIdPath,
    payload: WalletUpdate,
    principal: CurrentPrincipal,
    wallets: WalletServiceDep,
    links: LinksDep,
    cond: ConditionalDep,
) -> PatientRead:
    """Change the wallet balance by a signed amount, and record it in the wallet's ledger."""
    patient = await wallets.change(patient_id, payload, principal, versions=cond.versions)
    return patient_answer(patient, links, cond.response)


@router.get(
    "/wallet_transactions/",
    response_model=Page[WalletTransactionRead],
    dependencies=[allow(Access.STAFF_OR_SELF)],
    summary="List wallet transactions",
    response_description="A page of the wallet's ledger, newest first.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def list_wallet_transactions(
    patient_id: PatientIdPath,
    page_request: PageRequestDep,
    links: LinksDep,
    wallets: WalletServiceDep,
) -> Page[WalletTransactionRead]:
    """The wallet's ledger, newest first: every change of the balance, and the balance after it."""

    async def fetch(offset: int, limit: int) -> list[WalletTransactionRead]:
        rows = await wallets.transactions(patient_id, offset=offset, limit=limit)
        return [WalletTransactionRead.model_validate(row) for row in rows]

    return await paginate(
        links,
        page_request,
        WalletTransactionRead,
        count=lambda exact_up_to: wallets.count(patient_id, exact_up_to=exact_up_to),
        fetch=fetch,
    )

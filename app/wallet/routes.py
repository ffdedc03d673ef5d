from fastapi import APIRouter

from app.audit.actions import Action
from app.auth.access import StaffCaller, StaffOrSelfCaller
from app.core.conditional import ConditionalDep
from app.core.dependencies import PageRequestDep
from app.core.openapi import BODY_ERRORS, COMMON_ERRORS, errors, tagged
from app.core.pagination import Page, paginate
from app.idempotency.dependencies import Idempotent
from app.patients.dependencies import PatientIdPath
from app.patients.schemas import PatientRead, patient_answer
from app.requests.routing import AuditedRoute
from app.wallet.schemas import WalletTransactionRead, WalletUpdate
from app.wallet.service import WalletService

router = APIRouter(prefix="/api/patients/{patient_id}", tags=["patients"], route_class=AuditedRoute)


@router.post(
    "/update_wallet/",
    name=Action.UPDATE_WALLET,
    response_model=PatientRead,
    summary="Change the wallet balance",
    response_description="The patient as changed.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 412, 422), **tagged()},
)
async def update_wallet(
    patient_id: PatientIdPath,
    payload: WalletUpdate,
    caller: StaffCaller,
    cond: ConditionalDep,
    _: Idempotent,
) -> PatientRead:
    """Change the wallet balance by a signed amount, and record it in the wallet's ledger."""
    wallets = WalletService(caller.work)
    actor = await caller.principal()
    patient = await wallets.change(patient_id, payload, actor, versions=cond.versions)
    return patient_answer(patient, caller.links, cond.response)


@router.get(
    "/wallet_transactions/",
    name=Action.LIST_WALLET_TRANSACTIONS,
    response_model=Page[WalletTransactionRead],
    summary="List wallet transactions",
    response_description="A page of the wallet's ledger, newest first.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def list_wallet_transactions(
    patient_id: PatientIdPath, caller: StaffOrSelfCaller, page_request: PageRequestDep
) -> Page[WalletTransactionRead]:
    """The wallet's ledger, newest first: every change of the balance, and the balance after it."""
    wallets = WalletService(caller.work)

    async def fetch(offset: int, limit: int) -> list[WalletTransactionRead]:
        rows = await wallets.transactions(patient_id, offset=offset, limit=limit)
        return [WalletTransactionRead.model_validate(row) for row in rows]

    return await paginate(
        caller.links,
        page_request,
        WalletTransactionRead,
        count=lambda exact_up_to: wallets.count(patient_id, exact_up_to=exact_up_to),
        fetch=fetch,
    )

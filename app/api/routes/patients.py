import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Request, status

from app.api.conditional import ConditionalDep, TaggedDep
from app.api.deps import (
    AuditDep,
    CurrentPrincipal,
    JsonBody,
    PageRequestDep,
    PatientIdDep,
    PatientListQueryDep,
    PatientRepoDep,
    PatientSelfFields,
    PictureStoreDep,
    SessionDep,
    allow,
)
from app.api.docs import errors, tagged
from app.api.idempotency import Idempotent, IdempotentRoute
from app.api.pagination import paginate
from app.api.urls import remember_base_url
from app.core.errors import NotFound
from app.core.metrics import count_patient_created, count_patient_deleted, count_wallet_update
from app.core.permissions import Access
from app.core.security import hash_password
from app.models.patient import Patient
from app.repositories.wallet import WalletTransactionRepository
from app.schemas.patient import (
    PatientCreate,
    PatientPage,
    PatientRead,
    PatientReplace,
    PatientUpdate,
    SessionCreate,
    TagAction,
    WalletTransactionPage,
    WalletUpdate,
    session_document,
)

router = APIRouter(
    prefix="/api/patients",
    tags=["patients"],
    dependencies=[Depends(remember_base_url)],
    route_class=IdempotentRoute,
)

STAFF = allow(Access.STAFF)
ADMIN = allow(Access.ADMIN)
STAFF_OR_SELF = allow(Access.STAFF_OR_SELF)


async def _writable(payload: PatientUpdate) -> dict[str, Any]:
    """The columns a write sets: only what was sent, with the password replaced by its hash."""
    values = payload.model_dump(exclude_unset=True)
    if (password := values.pop("password", None)) is not None:
        values["password_hash"] = await hash_password(password)
    return values


# Any endpoint here: no or bad token, a role that may not, throttled, the database unavailable.
COMMON_ERRORS = (401, 403, 429, 503)
# Any JSON body: invalid or malformed, too large, not JSON.
BODY_ERRORS = (400, 413, 415)


@router.get(
    "/",
    response_model=PatientPage,
    dependencies=[STAFF],
    summary="List patients",
    response_description="A page of patients.",
    responses=errors(400, *COMMON_ERRORS, 404),
)
async def list_patients(
    request: Request, query: PatientListQueryDep, page_request: PageRequestDep, repo: PatientRepoDep
) -> dict[str, Any]:
    """List patients, filtered, ordered and paged."""
    return await paginate(
        request,
        page_request,
        count=lambda exact_up_to: repo.count(query, exact_up_to=exact_up_to),
        fetch=lambda offset, limit: repo.list(query, offset=offset, limit=limit),
    )


@router.post(
    "/",
    response_model=PatientRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[STAFF, JsonBody, Idempotent],
    summary="Create a patient",
    response_description="The patient created.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 409, 422), **tagged(201)},
)
async def create_patient(
    payload: PatientCreate, repo: PatientRepoDep, audit: AuditDep, etag: TaggedDep
) -> Patient:
    """Create a patient; the id is generated when absent."""
    patient = await repo.create(await _writable(payload))
    count_patient_created()
    audit.patient_id = patient.id
    return etag.tagged(patient)


@router.get(
    "/{patient_id}/",
    response_model=PatientRead,
    dependencies=[STAFF_OR_SELF],
    summary="Read a patient",
    response_description="The patient.",
    responses={**errors(*COMMON_ERRORS, 404), **tagged()},
)
async def get_patient(patient_id: PatientIdDep, repo: PatientRepoDep, etag: TaggedDep) -> Patient:
    """Read one patient; the ETag header is their current version, for If-Match."""
    return etag.tagged(await repo.get(patient_id))


@router.put(
    "/{patient_id}/",
    response_model=PatientRead,
    dependencies=[STAFF, JsonBody],
    summary="Replace a patient",
    response_description="The patient as changed.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 412), **tagged()},
)
async def replace_patient(
    patient_id: PatientIdDep, payload: PatientReplace, repo: PatientRepoDep, cond: ConditionalDep
) -> Patient:
    """Replace a patient's writable fields; an omitted optional field is left unchanged."""
    values = await _writable(payload)
    return cond.tagged(await repo.update(patient_id, values, versions=cond.versions))


@router.patch(
    "/{patient_id}/",
    response_model=PatientRead,
    dependencies=[STAFF_OR_SELF, JsonBody, PatientSelfFields],
    summary="Update some of a patient's fields",
    response_description="The patient as changed.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 412), **tagged()},
)
async def update_patient(
    patient_id: PatientIdDep,
    repo: PatientRepoDep,
    cond: ConditionalDep,
    payload: Annotated[PatientUpdate, Body()] = PatientUpdate(),
) -> Patient:
    """Change some of a patient's writable fields (a patient: only their own contact fields)."""
    values = await _writable(payload)
    return cond.tagged(await repo.update(patient_id, values, versions=cond.versions))


@router.delete(
    "/{patient_id}/",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[ADMIN],
    summary="Delete a patient",
    response_description="Deleted; no body.",
    responses=errors(*COMMON_ERRORS, 404, 412),
)
async def delete_patient(
    patient_id: PatientIdDep,
    repo: PatientRepoDep,
    store: PictureStoreDep,
    after: BackgroundTasks,
    cond: ConditionalDep,
) -> None:
    """Delete a patient (admins only), and their picture once the deletion is committed."""
    after.add_task(store.remove, await repo.delete(patient_id, versions=cond.versions))
    count_patient_deleted()


ACTION: dict[str, Any] = {
    "response_model": PatientRead,
    "dependencies": [STAFF, JsonBody, Idempotent],
    "response_description": "The patient as changed.",
    "responses": {**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 412, 422), **tagged()},
}


@router.post("/{patient_id}/add_tag/", summary="Add a tag", **ACTION)
async def add_tag(
    patient_id: PatientIdDep, payload: TagAction, repo: PatientRepoDep, cond: ConditionalDep
) -> Patient:
    """Add a tag; adding one already there changes nothing."""
    return cond.tagged(await repo.add_tag(patient_id, payload.tag, versions=cond.versions))


@router.post("/{patient_id}/remove_tag/", summary="Remove a tag", **ACTION)
async def remove_tag(
    patient_id: PatientIdDep, payload: TagAction, repo: PatientRepoDep, cond: ConditionalDep
) -> Patient:
    """Remove a tag; removing one not there changes nothing."""
    return cond.tagged(await repo.remove_tag(patient_id, payload.tag, versions=cond.versions))


@router.post("/{patient_id}/add_session/", summary="Record a therapy session", **ACTION)
async def add_session(
    patient_id: PatientIdDep, payload: SessionCreate, repo: PatientRepoDep, cond: ConditionalDep
) -> Patient:
    """Append a therapy session to the patient's history."""
    document = session_document(payload, session_id=str(uuid.uuid4()), created_at=datetime.now(UTC))
    return cond.tagged(await repo.add_session(patient_id, document, versions=cond.versions))


@router.post("/{patient_id}/update_wallet/", summary="Change the wallet balance", **ACTION)
async def update_wallet(
    patient_id: PatientIdDep,
    payload: WalletUpdate,
    repo: PatientRepoDep,
    principal: CurrentPrincipal,
    cond: ConditionalDep,
) -> Patient:
    """Change the wallet balance by a signed amount, and record it in the wallet's ledger."""
    patient = await repo.change_wallet(
        patient_id, payload.amount, actor=principal, reason=payload.reason, versions=cond.versions
    )
    count_wallet_update(payload.amount)
    return cond.tagged(patient)


@router.get(
    "/{patient_id}/wallet_transactions/",
    response_model=WalletTransactionPage,
    dependencies=[STAFF_OR_SELF],
    summary="List wallet transactions",
    response_description="A page of the wallet's ledger, newest first.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def list_wallet_transactions(
    request: Request,
    patient_id: PatientIdDep,
    page_request: PageRequestDep,
    repo: PatientRepoDep,
    session: SessionDep,
) -> dict[str, Any]:
    """The wallet's ledger, newest first: every change of the balance, and the balance after it."""
    if not await repo.exists(patient_id):
        raise NotFound
    ledger = WalletTransactionRepository(session)
    return await paginate(
        request,
        page_request,
        count=lambda exact_up_to: ledger.count(patient_id, exact_up_to=exact_up_to),
        fetch=lambda offset, limit: ledger.list(patient_id, offset=offset, limit=limit),
    )

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Request, status

from app.api.deps import (
    AuditDep,
    JsonBody,
    PageRequestDep,
    PatientIdDep,
    PatientListQueryDep,
    PatientRepoDep,
    PatientSelfFields,
    PictureStoreDep,
    allow,
)
from app.api.docs import errors
from app.api.pagination import paginate
from app.api.routing import DeferredJSONRoute
from app.api.urls import remember_base_url
from app.core.permissions import Access
from app.core.security import hash_password
from app.models.patient import Patient
from app.schemas.patient import (
    PatientCreate,
    PatientPage,
    PatientRead,
    PatientReplace,
    PatientUpdate,
    SessionCreate,
    TagAction,
    WalletUpdate,
    session_document,
)

router = APIRouter(
    prefix="/api/patients",
    tags=["patients"],
    dependencies=[Depends(remember_base_url)],
    route_class=DeferredJSONRoute,
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


AUTH_ERRORS = (401, 403, 429)


@router.get(
    "/", response_model=PatientPage, dependencies=[STAFF], responses=errors(400, *AUTH_ERRORS, 404)
)
async def list_patients(
    request: Request, query: PatientListQueryDep, page_request: PageRequestDep, repo: PatientRepoDep
) -> dict[str, Any]:
    """List patients, filtered, ordered and paged."""
    return await paginate(
        request,
        page_request,
        count=lambda: repo.count(query),
        fetch=lambda offset, limit: repo.list(query, offset=offset, limit=limit),
    )


@router.post(
    "/",
    response_model=PatientRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[STAFF, JsonBody],
    responses=errors(400, *AUTH_ERRORS, 415),
)
async def create_patient(payload: PatientCreate, repo: PatientRepoDep, audit: AuditDep) -> Patient:
    """Create a patient; the id is generated when absent."""
    patient = await repo.create(await _writable(payload))
    audit.patient_id = patient.id
    return patient


@router.get(
    "/{patient_id}/",
    response_model=PatientRead,
    dependencies=[STAFF_OR_SELF],
    responses=errors(*AUTH_ERRORS, 404),
)
async def get_patient(patient_id: PatientIdDep, repo: PatientRepoDep) -> Patient:
    """Read one patient."""
    return await repo.get(patient_id)


@router.put(
    "/{patient_id}/",
    response_model=PatientRead,
    dependencies=[STAFF, JsonBody],
    responses=errors(400, *AUTH_ERRORS, 404, 415),
)
async def replace_patient(
    patient_id: PatientIdDep, payload: PatientReplace, repo: PatientRepoDep
) -> Patient:
    """Replace a patient's writable fields; an omitted optional field is left unchanged."""
    return await repo.update(patient_id, await _writable(payload))


@router.patch(
    "/{patient_id}/",
    response_model=PatientRead,
    dependencies=[STAFF_OR_SELF, JsonBody, PatientSelfFields],
    responses=errors(400, *AUTH_ERRORS, 404, 415),
)
async def update_patient(
    patient_id: PatientIdDep,
    repo: PatientRepoDep,
    payload: Annotated[PatientUpdate, Body()] = PatientUpdate(),
) -> Patient:
    """Change some of a patient's writable fields (a patient: only their own contact fields)."""
    return await repo.update(patient_id, await _writable(payload))


@router.delete(
    "/{patient_id}/",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[ADMIN],
    responses=errors(*AUTH_ERRORS, 404),
)
async def delete_patient(
    patient_id: PatientIdDep, repo: PatientRepoDep, store: PictureStoreDep, after: BackgroundTasks
) -> None:
    """Delete a patient (admins only), and their picture once the deletion is committed."""
    after.add_task(store.remove, await repo.delete(patient_id))


ACTION: dict[str, Any] = {
    "response_model": PatientRead,
    "dependencies": [STAFF, JsonBody],
    "responses": errors(400, *AUTH_ERRORS, 404, 415),
}


@router.post("/{patient_id}/add_tag/", **ACTION)
async def add_tag(patient_id: PatientIdDep, payload: TagAction, repo: PatientRepoDep) -> Patient:
    """Add a tag; adding one already there changes nothing."""
    return await repo.add_tag(patient_id, payload.tag)


@router.post("/{patient_id}/remove_tag/", **ACTION)
async def remove_tag(patient_id: PatientIdDep, payload: TagAction, repo: PatientRepoDep) -> Patient:
    """Remove a tag; removing one not there changes nothing."""
    return await repo.remove_tag(patient_id, payload.tag)


@router.post("/{patient_id}/add_session/", **ACTION)
async def add_session(
    patient_id: PatientIdDep, payload: SessionCreate, repo: PatientRepoDep
) -> Patient:
    """Append a therapy session to the patient's history."""
    document = session_document(payload, session_id=str(uuid.uuid4()), created_at=datetime.now(UTC))
    return await repo.add_session(patient_id, document)


@router.post("/{patient_id}/update_wallet/", **ACTION)
async def update_wallet(
    patient_id: PatientIdDep, payload: WalletUpdate, repo: PatientRepoDep
) -> Patient:
    """Change the wallet balance by a signed amount."""
    return await repo.change_wallet(patient_id, payload.amount)

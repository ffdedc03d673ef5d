from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Response, status

from app.audit.routing import AuditedRoute
from app.auth.access import allow
from app.auth.permissions import Access
from app.core.conditional import ConditionalDep
from app.core.dependencies import JsonBody, LinksDep, PageRequestDep
from app.core.metrics import count_patient_created, count_patient_deleted
from app.core.openapi import BODY_ERRORS, COMMON_ERRORS, errors, tagged
from app.core.pagination import Page, paginate
from app.idempotency.dependencies import Idempotent
from app.patients.dependencies import (
    PatientIdPath,
    PatientListQueryDep,
    PatientSelfFields,
    PatientServiceDep,
)
from app.patients.schemas import (
    PatientCreate,
    PatientRead,
    PatientReplace,
    PatientUpdate,
    SessionCreate,
    TagAction,
    patient_answer,
)
from app.pictures.dependencies import PictureStoreDep

router = APIRouter(prefix="/api/patients", tags=["patients"], route_class=AuditedRoute)

STAFF = allow(Access.STAFF)
ADMIN = allow(Access.ADMIN)
STAFF_OR_SELF = allow(Access.STAFF_OR_SELF)


@router.get(
    "/",
    response_model=Page[PatientRead],
    dependencies=[STAFF],
    summary="List patients",
    response_description="A page of patients.",
    responses=errors(400, *COMMON_ERRORS, 404),
)
async def list_patients(
    query: PatientListQueryDep,
    page_request: PageRequestDep,
    patients: PatientServiceDep,
    links: LinksDep,
) -> Page[PatientRead]:
    """List patients, filtered, ordered and paged."""

    async def fetch(offset: int, limit: int) -> list[PatientRead]:
        rows = await patients.list(query, offset=offset, limit=limit)
        return [PatientRead.of(row, links) for row in rows]

    return await paginate(
        links,
        page_request,
        PatientRead,
        count=lambda exact_up_to: patients.count(query, exact_up_to=exact_up_to),
        fetch=fetch,
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
    payload: PatientCreate, patients: PatientServiceDep, links: LinksDep, response: Response
) -> PatientRead:
    """Create a patient; the id is generated when absent."""
    patient = await patients.create(payload)
    count_patient_created()
    return patient_answer(patient, links, response)


@router.get(
    "/{patient_id}/",
    response_model=PatientRead,
    dependencies=[STAFF_OR_SELF],
    summary="Read a patient",
    response_description="The patient.",
    responses={**errors(*COMMON_ERRORS, 404), **tagged()},
)
async def get_patient(
    patient_id: PatientIdPath, patients: PatientServiceDep, links: LinksDep, response: Response
) -> PatientRead:
    """Read one patient; the ETag header is their current version, for If-Match."""
    return patient_answer(await patients.get(patient_id), links, response)


@router.put(
    "/{patient_id}/",
    response_model=PatientRead,
    dependencies=[STAFF, JsonBody],
    summary="Replace a patient",
    response_description="The patient as changed.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 412), **tagged()},
)
async def replace_patient(
    patient_id: PatientIdPath,
    payload: PatientReplace,
    patients: PatientServiceDep,
    links: LinksDep,
    cond: ConditionalDep,
) -> PatientRead:
    """Replace a patient's writable fields; an omitted optional field is left unchanged."""
    patient = await patients.update(patient_id, payload, versions=cond.versions)
    return patient_answer(patient, links, cond.response)


@router.patch(
    "/{patient_id}/",
    response_model=PatientRead,
    dependencies=[STAFF_OR_SELF, JsonBody, PatientSelfFields],
    summary="Update some of a patient's fields",
    response_description="The patient as changed.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 412), **tagged()},
)
async def update_patient(
    patient_id: PatientIdPath,
    patients: PatientServiceDep,
    links: LinksDep,
    cond: ConditionalDep,
    payload: Annotated[PatientUpdate, Body()] = PatientUpdate(),
) -> PatientRead:
    """Change some of a patient's writable fields (a patient: only their own contact fields)."""
    patient = await patients.update(patient_id, payload, versions=cond.versions)
    return patient_answer(patient, links, cond.response)


@router.delete(
    "/{patient_id}/",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[ADMIN],
    summary="Delete a patient",
    response_description="Deleted; no body.",
    responses=errors(*COMMON_ERRORS, 404, 412),
)
async def delete_patient(
    patient_id: PatientIdPath,
    patients: PatientServiceDep,
    store: PictureStoreDep,
    after: BackgroundTasks,
    cond: ConditionalDep,
) -> None:
    """Delete a patient (admins only), and their picture once the deletion is committed."""
    after.add_task(store.remove, await patients.delete(patient_id, versions=cond.versions))
    count_patient_deleted()


ACTION: dict[str, Any] = {
    "response_model": PatientRead,
    "dependencies": [STAFF, JsonBody, Idempotent],
    "response_description": "The patient as changed.",
    "responses": {**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 412, 422), **tagged()},
}


@router.post("/{patient_id}/add_tag/", summary="Add a tag", **ACTION)
async def add_tag(
    patient_id: PatientIdPath,
    payload: TagAction,
    patients: PatientServiceDep,
    links: LinksDep,
    cond: ConditionalDep,
) -> PatientRead:
    """Add a tag; adding one already there changes nothing."""
    patient = await patients.add_tag(patient_id, payload.tag, versions=cond.versions)
    return patient_answer(patient, links, cond.response)


@router.post("/{patient_id}/remove_tag/", summary="Remove a tag", **ACTION)
async def remove_tag(
    patient_id: PatientIdPath,
    payload: TagAction,
    patients: PatientServiceDep,
    links: LinksDep,
    cond: ConditionalDep,
) -> PatientRead:
    """Remove a tag; removing one not there changes nothing."""
    patient = await patients.remove_tag(patient_id, payload.tag, versions=cond.versions)
    return patient_answer(patient, links, cond.response)


@router.post("/{patient_id}/add_session/", summary="Record a therapy session", **ACTION)
async def add_session(
    patient_id: PatientIdPath,
    payload: SessionCreate,
    patients: PatientServiceDep,
    links: LinksDep,
    cond: ConditionalDep,
) -> PatientRead:
    """Append a therapy session to the patient's history."""
    patient = await patients.add_session(patient_id, payload, versions=cond.versions)
    return patient_answer(patient, links, cond.response)

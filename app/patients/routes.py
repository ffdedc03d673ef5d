from typing import Annotated, Any

from fastapi import APIRouter, Body, Response, status

from app.audit.actions import Action
from app.auth.access import (
    PatientDeleteCaller,
    StaffCaller,
    StaffOrSelfCaller,
    StaffOrSelfFieldsCaller,
)
from app.auth.dependencies import reauthentication
from app.core.conditional import ConditionalDep
from app.core.dependencies import PageRequestDep
from app.core.metrics import count_patient_created, count_patient_deleted
from app.core.openapi import BODY_ERRORS, COMMON_ERRORS, errors, tagged
from app.core.pagination import Page, paginate
from app.idempotency.dependencies import Idempotent
from app.patients.dependencies import ChangeReasonHeader, PatientIdPath, PatientListQueryDep
from app.patients.schemas import (
    PatientCreate,
    PatientRead,
    PatientReplace,
    PatientUpdate,
    SessionCreate,
    TagAction,
    patient_answer,
)
from app.patients.service import PatientService
from app.requests.routing import AuditedRoute

router = APIRouter(prefix="/api/patients", tags=["patients"], route_class=AuditedRoute)


@router.get(
    "/",
    name=Action.LIST_PATIENTS,
    response_model=Page[PatientRead],
    summary="List patients",
    response_description="A page of patients.",
    responses=errors(400, *COMMON_ERRORS, 404),
)
async def list_patients(
    caller: StaffCaller, query: PatientListQueryDep, page_request: PageRequestDep
) -> Page[PatientRead]:
    """List patients, filtered, ordered and paged."""
    patients, links = PatientService(caller.work), caller.links

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
    name=Action.CREATE_PATIENT,
    response_model=PatientRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a patient",
    response_description="The patient created.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 409, 422), **tagged(201)},
)
async def create_patient(
    payload: PatientCreate,
    caller: StaffCaller,
    _: Idempotent,
    response: Response,
    reason: ChangeReasonHeader = None,
) -> PatientRead:
    """Create a patient; the id is generated when absent. The record's history starts with
    this version. The phone number is stored in E.164 form; one another patient has, or an
    e-mail address another account has (in any case), is a 400 naming that patient."""
    patient = await PatientService(caller.work).create(payload, reason=reason)
    count_patient_created()
    return patient_answer(patient, caller.links, response)


@router.get(
    "/{patient_id}/",
    name=Action.GET_PATIENT,
    response_model=PatientRead,
    summary="Read a patient",
    response_description="The patient.",
    responses={**errors(*COMMON_ERRORS, 404), **tagged()},
)
async def get_patient(
    patient_id: PatientIdPath, caller: StaffOrSelfCaller, response: Response
) -> PatientRead:
    """Read one patient; the ETag header is their current version, for If-Match."""
    patient = await PatientService(caller.work).get(patient_id)
    return patient_answer(patient, caller.links, response)


@router.put(
    "/{patient_id}/",
    name=Action.REPLACE_PATIENT,
    response_model=PatientRead,
    summary="Replace a patient",
    response_description="The patient as changed.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 412), **tagged()},
)
async def replace_patient(
    patient_id: PatientIdPath,
    payload: PatientReplace,
    caller: StaffCaller,
    cond: ConditionalDep,
    reason: ChangeReasonHeader = None,
) -> PatientRead:
    """Replace a patient's writable fields; an omitted optional field is left unchanged."""
    patient = await PatientService(caller.work).update(
        patient_id, payload, versions=cond.versions, reason=reason
    )
    return patient_answer(patient, caller.links, cond.response)


@router.patch(
    "/{patient_id}/",
    name=Action.UPDATE_PATIENT,
    response_model=PatientRead,
    summary="Update some of a patient's fields",
    response_description="The patient as changed.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 412), **tagged()},
)
async def update_patient(
    patient_id: PatientIdPath,
    caller: StaffOrSelfFieldsCaller,
    cond: ConditionalDep,
    reason: ChangeReasonHeader = None,
    payload: Annotated[PatientUpdate, Body()] = PatientUpdate(),
) -> PatientRead:
    """Change some of a patient's writable fields (a patient: only their own contact fields,
    and their password with `current_password`, whose wrong guesses count as failed logins of
    theirs: 429 past the login's limits). A new password ends every session of the patient: their
    tokens stop working, the caller's too, and they log in again. A new password or e-mail
    address is announced by mail to the address the patient had. The phone number is stored in
    E.164 form; one another patient has, or an e-mail address another account has, is a 400 on
    its field, which tells staff whose it is and a patient nothing."""
    patient = await PatientService(caller.work).update(
        patient_id,
        payload,
        versions=cond.versions,
        by_patient=None if caller.is_staff else reauthentication(caller.request),
        reason=reason,
    )
    return patient_answer(patient, caller.links, cond.response)


# A delete has no body: its 400 is the X-Change-Reason header's.
DELETE_ERRORS = errors(400, *COMMON_ERRORS, 404, 412)
DELETE_ERRORS[400]["description"] = (
    "An `X-Change-Reason` header that breaks its rule (one line of ASCII, at most 500 characters)."
)
DELETE_ERRORS[400]["content"]["application/json"]["example"] = {
    "X-Change-Reason": ["Ensure this field has no more than 500 characters."]
}


@router.delete(
    "/{patient_id}/",
    name=Action.DELETE_PATIENT,
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a patient",
    response_description="Deleted; no body.",
    responses=DELETE_ERRORS,
)
async def delete_patient(
    patient_id: PatientIdPath,
    caller: PatientDeleteCaller,
    cond: ConditionalDep,
    reason: ChangeReasonHeader = None,
) -> None:
    """Delete a patient (admins only): from then on they, their notes, documents, history and
    appointments are 404 everywhere, and their future appointments are cancelled. They are
    kept for `PATIENT_RETENTION_DAYS` (an admin may restore them:
    `POST /api/deleted-patients/{id}/restore/`), then `python -m app purge` removes them and
    their files for good. Their id, phone number and e-mail address stay taken until then."""
    await PatientService(caller.work).delete(patient_id, versions=cond.versions, reason=reason)
    count_patient_deleted()


ACTION: dict[str, Any] = {
    "response_model": PatientRead,
    "response_description": "The patient as changed.",
    "responses": {**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 412, 422), **tagged()},
}


@router.post("/{patient_id}/add_tag/", name=Action.ADD_TAG, summary="Add a tag", **ACTION)
async def add_tag(
    patient_id: PatientIdPath,
    payload: TagAction,
    caller: StaffCaller,
    cond: ConditionalDep,
    _: Idempotent,
    reason: ChangeReasonHeader = None,
) -> PatientRead:
    """Add a tag; adding one already there changes nothing."""
    patients = PatientService(caller.work)
    patient = await patients.add_tag(patient_id, payload.tag, versions=cond.versions, reason=reason)
    return patient_answer(patient, caller.links, cond.response)


@router.post("/{patient_id}/remove_tag/", name=Action.REMOVE_TAG, summary="Remove a tag", **ACTION)
async def remove_tag(
    patient_id: PatientIdPath,
    payload: TagAction,
    caller: StaffCaller,
    cond: ConditionalDep,
    _: Idempotent,
    reason: ChangeReasonHeader = None,
) -> PatientRead:
    """Remove a tag; removing one not there changes nothing."""
    patients = PatientService(caller.work)
    patient = await patients.remove_tag(
        patient_id, payload.tag, versions=cond.versions, reason=reason
    )
    return patient_answer(patient, caller.links, cond.response)


@router.post(
    "/{patient_id}/add_session/",
    name=Action.ADD_SESSION,
    summary="Record a therapy session",
    **ACTION,
)
async def add_session(
    patient_id: PatientIdPath,
    payload: SessionCreate,
    caller: StaffCaller,
    cond: ConditionalDep,
    _: Idempotent,
    reason: ChangeReasonHeader = None,
) -> PatientRead:
    """Append a therapy session to the patient's history."""
    patients = PatientService(caller.work)
    patient = await patients.add_session(patient_id, payload, versions=cond.versions, reason=reason)
    return patient_answer(patient, caller.links, cond.response)

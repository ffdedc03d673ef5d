"""A patient record's history (every version, who changed what and why, restoring one) and the
deleted patients an admin may still restore."""

from typing import Annotated

from fastapi import APIRouter, Body, Response

from app.audit.actions import Action
from app.auth.access import DeletedRestoreCaller, HistoryReadCaller, HistoryRestoreCaller
from app.core.conditional import ConditionalDep
from app.core.dependencies import PageRequestDep
from app.core.ids import id_path
from app.core.openapi import BODY_ERRORS, COMMON_ERRORS, errors, tagged
from app.core.pagination import Page, paginate
from app.patients.dependencies import ChangeReasonHeader, PatientIdPath
from app.patients.schemas import (
    DeletedPatientRead,
    PatientRead,
    PatientVersionDetail,
    PatientVersionRead,
    RestoreRequest,
    patient_answer,
)
from app.patients.service import PatientService
from app.requests.routing import AuditedRoute

router = APIRouter(tags=["patient history"], route_class=AuditedRoute)

VersionPath = Annotated[int, id_path("A version of the patient (their ETag after a change).", 1187)]


@router.get(
    "/api/deleted-patients/",
    name=Action.LIST_DELETED_PATIENTS,
    response_model=Page[DeletedPatientRead],
    summary="List deleted patients",
    response_description="A page of deleted patients not yet purged, the latest deleted first.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def list_deleted_patients(
    caller: DeletedRestoreCaller, page_request: PageRequestDep
) -> Page[DeletedPatientRead]:
    """Patients deleted and kept until purged (admins only): each may be restored until its
    `purge_after` (`PATIENT_RETENTION_DAYS` after the deletion)."""
    patients = PatientService(caller.work)

    async def fetch(offset: int, limit: int) -> list[DeletedPatientRead]:
        rows = await patients.deleted(offset=offset, limit=limit)
        return [DeletedPatientRead.model_validate(row) for row in rows]

    return await paginate(
        caller.links,
        page_request,
        DeletedPatientRead,
        count=lambda exact_up_to: patients.count_deleted(exact_up_to=exact_up_to),
        fetch=fetch,
    )


@router.post(
    "/api/deleted-patients/{patient_id}/restore/",
    name=Action.RESTORE_DELETED_PATIENT,
    response_model=PatientRead,
    summary="Restore a deleted patient",
    response_description="The patient, restored.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404), **tagged()},
)
async def restore_deleted_patient(
    patient_id: PatientIdPath,
    caller: DeletedRestoreCaller,
    response: Response,
    header_reason: ChangeReasonHeader = None,
    payload: Annotated[RestoreRequest, Body()] = RestoreRequest(),
) -> PatientRead:
    """Bring a deleted patient back, with their notes and documents (admins only), within the
    retention period; 400 after it, or when the patient is not deleted. Their appointments
    cancelled by the deletion stay cancelled, and they log in again."""
    patients = PatientService(caller.work)
    patient = await patients.undelete(patient_id, reason=payload.reason or header_reason)
    return patient_answer(patient, caller.links, response)


@router.get(
    "/api/patients/{patient_id}/history/",
    name=Action.LIST_PATIENT_HISTORY,
    response_model=Page[PatientVersionRead],
    summary="List a patient's record history",
    response_description="A page of the patient's versions, newest first.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def list_patient_history(
    patient_id: PatientIdPath, caller: HistoryReadCaller, page_request: PageRequestDep
) -> Page[PatientVersionRead]:
    """Every change of the patient's record, newest first: who, when, why and which fields
    (staff only). Each read is audited."""
    patients, links = PatientService(caller.work), caller.links

    async def fetch(offset: int, limit: int) -> list[PatientVersionRead]:
        rows = await patients.history_page(patient_id, offset=offset, limit=limit)
        return [PatientVersionRead.of(row, patient_id, links) for row in rows]

    return await paginate(
        links,
        page_request,
        PatientVersionRead,
        count=lambda exact_up_to: patients.count_history(patient_id, exact_up_to=exact_up_to),
        fetch=fetch,
    )


@router.get(
    "/api/patients/{patient_id}/history/{version}/",
    name=Action.GET_PATIENT_VERSION,
    response_model=PatientVersionDetail,
    summary="Read one version of a patient's record",
    response_description="The version, the record as it left it, and what it changed.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def get_patient_version(
    patient_id: PatientIdPath, version: VersionPath, caller: HistoryReadCaller
) -> PatientVersionDetail:
    """One version (staff only): the record as the change left it (PHI decrypted), and each
    changed field before and after."""
    found, before = await PatientService(caller.work).version(patient_id, version)
    return PatientVersionDetail.of_pair(found, before, patient_id, caller.links)


@router.post(
    "/api/patients/{patient_id}/history/{version}/restore/",
    name=Action.RESTORE_PATIENT_VERSION,
    response_model=PatientRead,
    summary="Restore a version of a patient's record",
    response_description="The patient, as the restored version had them.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 412), **tagged()},
)
async def restore_patient_version(
    patient_id: PatientIdPath,
    version: VersionPath,
    caller: HistoryRestoreCaller,
    cond: ConditionalDep,
    header_reason: ChangeReasonHeader = None,
    payload: Annotated[RestoreRequest, Body()] = RestoreRequest(),
) -> PatientRead:
    """Set the fields a PUT writes back to the version's (admins only), as a new version that
    names it in `restored_from`. The wallet, the sessions and the picture are left as they
    are. A phone number another patient has taken since is a 400 on `phone_no`."""
    patient = await PatientService(caller.work).restore(
        patient_id, version, versions=cond.versions, reason=payload.reason or header_reason
    )
    return patient_answer(patient, caller.links, cond.response)

from functools import partial
from typing import Any
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Request, Response

from app.audit.actions import Action
from app.auth.access import StaffCaller, StaffOrSelfCaller
from app.core.dependencies import SettingsDep
from app.core.openapi import BODY_ERRORS, COMMON_ERRORS, errors
from app.patients.dependencies import PatientIdPath
from app.requests.routing import AuditedRoute
from app.statements.dependencies import PDF, StatementQueryDep, wants_pdf
from app.statements.schemas import (
    DiagnosesRead,
    DiagnosesUpdate,
    Period,
    Practice,
    StatementRead,
    SuperbillRead,
)
from app.statements.service import StatementService

router = APIRouter(
    prefix="/api/patients/{patient_id}", tags=["statements"], route_class=AuditedRoute
)

DOWNLOAD_HEADERS = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
PDF_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {PDF: {"schema": {"type": "string", "format": "binary"}}},
        "description": "JSON by default; a PDF attachment with `?format=pdf` or "
        "`Accept: application/pdf`.",
    }
}


def _pdf(document: bytes, kind: str, patient_id: str, period: Period) -> Response:
    filename = f"{kind}-{patient_id}-{period.start.isoformat()}-{period.end.isoformat()}.pdf"
    disposition = f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
    return Response(
        content=document,
        media_type=PDF,
        headers={**DOWNLOAD_HEADERS, "Content-Disposition": disposition},
    )


@router.get(
    "/diagnoses/",
    name=Action.GET_DIAGNOSES,
    response_model=DiagnosesRead,
    summary="Read a patient's diagnosis codes",
    response_description="The patient's ICD-10-CM codes; an empty list when none are set.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def get_diagnoses(
    patient_id: PatientIdPath, caller: StaffOrSelfCaller, settings: SettingsDep
) -> DiagnosesRead:
    """The patient's diagnosis codes, as their superbill lists them (staff, and the patient
    their own)."""
    codes = await StatementService(caller.work, settings).diagnoses(patient_id)
    return DiagnosesRead(codes=codes)


@router.put(
    "/diagnoses/",
    name=Action.SET_DIAGNOSES,
    response_model=DiagnosesRead,
    summary="Replace a patient's diagnosis codes",
    response_description="The patient's ICD-10-CM codes, as set.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404),
)
async def set_diagnoses(
    patient_id: PatientIdPath, payload: DiagnosesUpdate, caller: StaffCaller, settings: SettingsDep
) -> DiagnosesRead:
    """Replace the patient's diagnosis codes (staff): 0 to 12 ICD-10-CM codes, each once,
    encrypted at rest. The codes stay out of the audit trail."""
    actor = await caller.principal()
    service = StatementService(caller.work, settings)
    return DiagnosesRead(codes=await service.set_diagnoses(patient_id, payload.codes, actor))


@router.get(
    "/statement/",
    name=Action.GET_STATEMENT,
    response_model=StatementRead,
    summary="Read a patient's statement",
    response_description="The statement of the period, as JSON or as a PDF.",
    responses={**errors(400, *COMMON_ERRORS, 404), **PDF_RESPONSE},
)
async def get_statement(
    patient_id: PatientIdPath,
    caller: StaffOrSelfCaller,
    query: StatementQueryDep,
    settings: SettingsDep,
    request: Request,
) -> StatementRead | Response:
    """The period's issued invoices (voids with their status), the payments that succeeded and
    the refunds made in it, what the patient owed when it began and owes at its end (staff, and
    the patient their own). The period is the clinic's calendar days from `start` to `end`, both
    included: by default the current month; `end` before `start`, or more than 366 days, is a
    400."""
    service = StatementService(caller.work, settings)
    period = service.period(query.start, query.end)
    statement = await service.statement(patient_id, period)
    if not wants_pdf(query, request.headers.get("accept")):
        return statement
    # fpdf2 (and fontTools) cost a worker about 23 MiB: loaded by the first PDF, not at start.
    from app.statements.pdf import statement_pdf

    render = partial(
        statement_pdf, statement, practice=Practice.of(settings), zone=settings.clinic_zone
    )
    return _pdf(await anyio.to_thread.run_sync(render), "statement", patient_id, period)


@router.get(
    "/superbill/",
    name=Action.GET_SUPERBILL,
    response_model=SuperbillRead,
    summary="Read a patient's superbill",
    response_description="The superbill of the period, as JSON or as a PDF.",
    responses={**errors(400, *COMMON_ERRORS, 404), **PDF_RESPONSE},
)
async def get_superbill(
    patient_id: PatientIdPath,
    caller: StaffOrSelfCaller,
    query: StatementQueryDep,
    settings: SettingsDep,
    request: Request,
) -> SuperbillRead | Response:
    """What the patient sends an insurer for out-of-network reimbursement: the practice, the
    patient, their diagnosis codes, and each session whose date of service is in the period,
    with its code, therapist and NPI, fee and what was paid of it (staff, and the patient their
    own). The period is as the statement's."""
    service = StatementService(caller.work, settings)
    period = service.period(query.start, query.end)
    superbill = await service.superbill(patient_id, period)
    if not wants_pdf(query, request.headers.get("accept")):
        return superbill
    from app.statements.pdf import superbill_pdf

    render = partial(superbill_pdf, superbill, zone=settings.clinic_zone)
    return _pdf(await anyio.to_thread.run_sync(render), "superbill", patient_id, period)

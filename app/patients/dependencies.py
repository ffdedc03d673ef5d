import json
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from app.auth.dependencies import CallerDep
from app.auth.permissions import forbidden_fields
from app.core.errors import NotFound, PermissionDenied
from app.models.patient import is_patient_id
from app.patients.schemas import PatientListQuery
from app.patients.service import PatientService


async def _patient_id(
    patient_id: Annotated[
        str, Path(description="Patient id, e.g. p_a1b2c3.", examples=["p_a1b2c3"])
    ],
) -> str:
    """An id that cannot exist is simply not found; it never reaches the database."""
    if not is_patient_id(patient_id):
        raise NotFound
    return patient_id


async def _patient_service(caller: CallerDep) -> PatientService:
    return PatientService(caller.work)


async def _only_fields_the_caller_may_change(request: Request, caller: CallerDep) -> None:
    """A patient editing their own record may send only the fields API.md lets them change."""
    principal = caller.principal
    if principal.is_staff:
        return
    try:
        sent = json.loads(await request.body() or b"{}")
    except (ValueError, RecursionError):
        return  # the body's own validation answers with the parse error
    if isinstance(sent, dict) and forbidden_fields(principal, set(sent)):
        raise PermissionDenied


PatientIdDep = Annotated[str, Depends(_patient_id)]
PatientServiceDep = Annotated[PatientService, Depends(_patient_service)]
PatientListQueryDep = Annotated[PatientListQuery, Query()]
PatientSelfFields = Depends(_only_fields_the_caller_may_change)

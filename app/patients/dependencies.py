import json
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from app.auth.dependencies import CallerDep
from app.auth.permissions import forbidden_fields
from app.core.errors import PermissionDenied
from app.models.patient import PATIENT_ID
from app.patients.schemas import PatientListQuery
from app.patients.service import PatientService


async def _patient_service(caller: CallerDep) -> PatientService:
    return PatientService(caller.work)


async def _only_fields_the_caller_may_change(request: Request, caller: CallerDep) -> None:
    """A patient editing their own record may send only the fields API.md lets them change."""
    if caller.is_staff:
        return
    try:
        sent = json.loads(await request.body() or b"{}")
    except (ValueError, RecursionError):
        return  # the body's own validation answers with the parse error
    if isinstance(sent, dict) and forbidden_fields(caller, set(sent)):
        raise PermissionDenied


# An id that cannot exist is simply not found (a 404, app.core.errors): it never reaches the
# database.
PatientIdPath = Annotated[
    str,
    Path(
        description="Patient id, e.g. p_a1b2c3.",
        examples=["p_a1b2c3"],
        pattern=f"^{PATIENT_ID.pattern}$",
    ),
]
PatientServiceDep = Annotated[PatientService, Depends(_patient_service)]
PatientListQueryDep = Annotated[PatientListQuery, Query()]
PatientSelfFields = Depends(_only_fields_the_caller_may_change)

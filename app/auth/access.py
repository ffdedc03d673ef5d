"""The role matrix applied to an endpoint: `dependencies=[allow(Access.STAFF)]`."""

from typing import Any

from fastapi import Depends, Request

from app.auth.dependencies import CallerDep
from app.auth.permissions import (
    DECIDED_BY_ROLE,
    Access,
    may_access_patient,
    may_use,
    may_use_as,
)
from app.auth.repository import AccountRepository
from app.core.errors import NotFound, PermissionDenied
from app.models.patient import is_patient_id


def allow(access: Access) -> Any:
    """403 for a role that may not use the endpoint at all, and for a patient asking for another
    patient's record (404 when that record does not exist). Refusals are audited, as the work's
    failures are."""

    async def check(request: Request, caller: CallerDep) -> None:
        if access in DECIDED_BY_ROLE:
            allowed = may_use(await caller.principal(), access)
        else:
            allowed = may_use_as(caller, access)
        if not allowed:
            raise PermissionDenied
        patient_id = request.path_params.get("patient_id")
        if patient_id is not None and not may_access_patient(caller, patient_id):
            if not is_patient_id(patient_id):
                raise NotFound
            if not await AccountRepository(caller.work).patient_exists(patient_id):
                raise NotFound
            raise PermissionDenied

    return Depends(check)

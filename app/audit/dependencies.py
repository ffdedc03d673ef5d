"""The request's audited unit of work (app.audit.work), for every endpoint that needs the
database on behalf of a caller."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from app.audit.service import AuditEntry
from app.audit.work import UnitOfWork
from app.auth.dependencies import CurrentPrincipal
from app.core.dependencies import DatabaseDep, client_address
from app.models.patient import is_patient_id


async def _work(
    request: Request, principal: CurrentPrincipal, database: DatabaseDep
) -> AsyncIterator[UnitOfWork]:
    """Commits when the endpoint's answer is ready, or rolls back if it raised; either way the
    request is audited under the endpoint's name."""
    route = request.scope.get("route")
    patient_id = request.path_params.get("patient_id")
    entry = AuditEntry(
        action=getattr(route, "name", "unknown"),
        actor=principal.name,
        actor_kind=principal.kind,
        patient_id=patient_id if patient_id and is_patient_id(patient_id) else None,
        client_address=client_address(request),
    )
    status_code = getattr(route, "status_code", None) or 200
    async with UnitOfWork(database, entry, status_code=status_code) as work:
        yield work


WorkDep = Annotated[UnitOfWork, Depends(_work, scope="function")]

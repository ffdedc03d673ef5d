"""The request's audited unit of work (app.audit.work), for every endpoint that needs the
database on behalf of a caller; its route (app.audit.routing.AuditedRoute) ends it."""

from typing import Annotated

from fastapi import Depends, Request

from app.audit.routing import use_work
from app.audit.service import AuditEntry
from app.audit.work import UnitOfWork
from app.auth.dependencies import CurrentPrincipal
from app.core.dependencies import client_address
from app.db.database import Database
from app.models.patient import is_patient_id


async def _work(request: Request, principal: CurrentPrincipal) -> UnitOfWork:
    """The work is audited under the endpoint's name, as its caller, on the patient its path
    names."""
    route = request.scope.get("route")
    patient_id = request.path_params.get("patient_id")
    entry = AuditEntry(
        action=getattr(route, "name", "unknown"),
        actor=principal.name,
        actor_kind=principal.kind,
        patient_id=patient_id if patient_id and is_patient_id(patient_id) else None,
        client_address=client_address(request),
    )
    database: Database = request.app.state.database
    work = UnitOfWork(database, entry, status_code=getattr(route, "status_code", None) or 200)
    use_work(request, work)
    return work


WorkDep = Annotated[UnitOfWork, Depends(_work)]

from typing import Annotated

from fastapi import APIRouter, Depends

from app.audit.actions import Action
from app.audit.repository import AuditRepository
from app.audit.schemas import AuditEventRead, AuditQuery
from app.audit.service import AuditService
from app.auth.access import AdminCaller
from app.core.dependencies import PageRequestDep
from app.core.openapi import errors
from app.core.pagination import Page, paginate
from app.core.querystring import QueryModel
from app.requests.routing import AuditedRoute

AuditQueryDep = Annotated[AuditQuery, Depends(QueryModel(AuditQuery))]
router = APIRouter(prefix="/api/audit", tags=["audit"], route_class=AuditedRoute)


@router.get(
    "/",
    name=Action.LIST_AUDIT_EVENTS,
    response_model=Page[AuditEventRead],
    summary="List audit events",
    response_description="A page of audit events, newest first.",
    responses=errors(400, 401, 403, 404, 429, 503),
)
async def list_audit_events(
    caller: AdminCaller, query: AuditQueryDep, page_request: PageRequestDep
) -> Page[AuditEventRead]:
    """The audit trail, newest first (admins only)."""
    work = caller.work
    trail = AuditService(AuditRepository(work))

    async def fetch(offset: int, limit: int) -> list[AuditEventRead]:
        rows = await work.completed_by(trail.list(query, offset=offset, limit=limit))
        return [AuditEventRead.model_validate(row) for row in rows]

    return await paginate(
        caller.links,
        page_request,
        AuditEventRead,
        count=lambda exact_up_to: trail.count(query, exact_up_to=exact_up_to),
        fetch=fetch,
    )

from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import AuditQueryDep, PageRequestDep, SessionDep, allow
from app.api.docs import errors
from app.api.pagination import paginate
from app.core.permissions import Access
from app.repositories.audit import AuditRepository
from app.schemas.audit import AuditPage

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get(
    "/",
    response_model=AuditPage,
    dependencies=[allow(Access.ADMIN)],
    summary="List audit events",
    response_description="A page of audit events, newest first.",
    responses=errors(400, 401, 403, 404, 429, 503),
)
async def list_audit_events(
    request: Request, query: AuditQueryDep, page_request: PageRequestDep, session: SessionDep
) -> dict[str, Any]:
    """The audit trail, newest first (admins only)."""
    repo = AuditRepository(session)
    return await paginate(
        request,
        page_request,
        count=lambda exact_up_to: repo.count(query, exact_up_to=exact_up_to),
        fetch=lambda offset, limit: repo.list(query, offset=offset, limit=limit),
    )

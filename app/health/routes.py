import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.core.openapi import ErrorDetail, Status, ok_example
from app.core.routing import ServiceRoute

router = APIRouter(tags=["health"], route_class=ServiceRoute)

READY_TIMEOUT_SECONDS = 2.0


@router.get(
    "/healthz",
    summary="Liveness probe",
    response_description="The process is up.",
    responses=ok_example({"status": "ok"}),
)
async def healthz() -> dict[str, str]:
    """The process is up: 200 as long as it can answer at all (no database needed)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness probe",
    responses={
        200: {"model": Status, "description": "The database answers."},
        503: {
            "model": ErrorDetail,
            "description": "The database does not answer.",
            "content": {"application/json": {"example": {"detail": "Database unavailable."}}},
        },
    },
)
async def readyz(request: Request) -> JSONResponse:
    """The database is reachable: 200 when it answers a query within 2 seconds, else 503."""
    try:
        async with (
            asyncio.timeout(READY_TIMEOUT_SECONDS),
            request.app.state.database.connection() as connection,
        ):
            await connection.execute("SELECT 1")
    except Exception:  # any failure to reach the database means "not ready"
        return JSONResponse({"detail": "Database unavailable."}, status_code=503)
    return JSONResponse({"status": "ok"})

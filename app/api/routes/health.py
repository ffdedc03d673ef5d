import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.api.docs import errors

router = APIRouter(tags=["health"])

READY_TIMEOUT_SECONDS = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=errors(503))
async def readyz(request: Request) -> JSONResponse:
    """The database is reachable."""
    try:
        async with (
            asyncio.timeout(READY_TIMEOUT_SECONDS),
            request.app.state.engine.connect() as connection,
        ):
            await connection.execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database means "not ready"
        return JSONResponse({"detail": "Database unavailable."}, status_code=503)
    return JSONResponse({"status": "ok"})

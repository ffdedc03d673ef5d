import hmac
from ipaddress import ip_address

from fastapi import APIRouter, Request, Response

from app.core.config import Settings
from app.core.errors import NotAuthenticated, PermissionDenied
from app.core.metrics import PoolCollector, exposition
from app.core.routing import ServiceRoute

router = APIRouter(tags=["health"], route_class=ServiceRoute)


def _check_access(request: Request, settings: Settings) -> None:
    """METRICS_ALLOWED_NETWORKS: the client's address must be in one (403); METRICS_TOKEN: the
    bearer token must be it (401)."""
    if settings.metrics_allowed_networks:
        host = request.client.host if request.client else ""
        try:
            address = ip_address(host)
        except ValueError:
            raise PermissionDenied from None
        if not any(address in network for network in settings.metrics_allowed_networks):
            raise PermissionDenied
    if settings.metrics_token is not None:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        expected = settings.metrics_token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            credentials.strip().encode(), expected
        ):
            raise NotAuthenticated


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics (docs/operations/observability.md)."""
    settings: Settings = request.app.state.settings
    _check_access(request, settings)
    database = getattr(request.app.state, "database", None)
    pool = None
    if database is not None:
        pool = PoolCollector(database.pool, settings.db_pool_size, settings.db_max_overflow)
    body, content_type = exposition(pool, request.headers.get("accept"))
    return Response(body, media_type=content_type)

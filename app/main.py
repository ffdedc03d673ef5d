from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import __version__
from app.admin import mount_admin
from app.appointments import routes as appointments
from app.audit import routes as audit
from app.auth import routes as auth
from app.auth.tokens import Tokens
from app.calendars import routes as calendars
from app.cards import routes as cards
from app.core.bodylimit import BodyLimitMiddleware
from app.core.config import Settings, get_settings
from app.core.crypto import Keyring
from app.core.errors import install_error_handlers
from app.core.headers import SecurityHeadersMiddleware
from app.core.hosts import HostMiddleware
from app.core.logging import configure_logging
from app.core.observability import ObservabilityMiddleware
from app.core.openapi import CONTACT, OPENAPI_TAGS, SERVERS, install_openapi
from app.core.ratelimit import RateLimiter
from app.core.routing import answer_head
from app.core.runtime import return_large_blocks_to_the_os
from app.core.server import secure_server
from app.db.database import Database, database_url
from app.db.session import create_engine, create_sessionmaker
from app.db.types import use_keyring
from app.documents import routes as documents
from app.documents.service import document_store
from app.health import metrics
from app.health import routes as health
from app.invoices import routes as invoices
from app.mail.mailer import mailer_for
from app.measures import routes as measures
from app.measures.instruments import check_instruments
from app.notes import routes as notes
from app.patients import history_routes as patient_history
from app.patients import routes as patients
from app.payments import routes as payments
from app.pictures import routes as pictures
from app.pictures.service import decode_slots, picture_store
from app.processor.client import processor_for
from app.requests.rules import check_endpoints
from app.statements import routes as statements
from app.therapists import routes as therapists
from app.wallet import routes as wallet

DESCRIPTION = """
Patient records of the TherapyConnect practice app, in the conventions of Django REST Framework:
trailing-slash URLs, `{"field": ["message"]}` validation errors, page-number pagination.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # However uvicorn was launched, it serves as the image's command does (app.core.server).
    secure_server()
    settings: Settings = app.state.settings
    url = await run_in_threadpool(database_url, settings)  # may start the embedded server
    app.state.database = await Database.open(settings, url)
    # SQLAlchemy's own engine, for the admin's lists and forms (sqladmin reads through it).
    app.state.engine = create_engine(settings, url)
    app.state.sessionmaker = create_sessionmaker(app.state.engine)
    import gc

    gc.freeze()
    try:
        yield
    finally:
        await app.state.processor.aclose()
        await app.state.engine.dispose()
        await app.state.database.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    check_instruments()  # a bad instrument file stops the start, not a patient's answer
    app: FastAPI = FastAPIOffline(
        title="TherapyConnect Patient API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # operationId is the endpoint's name, which is its audit action (list_patients: the
        # decorator's name=Action.LIST_PATIENTS), unique as app.requests.rules checks.
        generate_unique_id_function=lambda route: route.name,
        openapi_tags=OPENAPI_TAGS,
        contact=CONTACT,
        servers=SERVERS,
        # The service's metrics are its own (/metrics); FastAPI's OpenTelemetry hooks, asked on
        # every request whether a provider is configured, read the environment each time.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    settings = settings or get_settings()
    return_large_blocks_to_the_os()
    app.state.settings = settings
    assert settings.phi_encryption_keys is not None, "settings fill in a development key"
    use_keyring(Keyring.parse(settings.phi_encryption_keys.get_secret_value()))
    app.state.rate_limiter = RateLimiter(settings)
    app.state.tokens = Tokens(settings)
    app.state.pictures = picture_store(settings)
    app.state.documents = document_store(settings)
    app.state.mailer = mailer_for(settings)
    app.state.processor = processor_for(settings)
    app.state.picture_decodes = decode_slots(settings)
    configure_logging(settings)
    install_error_handlers(app)
    # Inside CORS and the security headers, so a 413 carries them too.
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            # What a browser frontend sends and reads beyond the CORS-safelisted headers.
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "Idempotency-Key",
                "X-Request-ID",
            ],
            expose_headers=["ETag", "Idempotent-Replayed", "Retry-After", "X-Request-ID"],
        )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.environment == "production")
    app.add_middleware(HostMiddleware, settings=settings)
    # Around the rest, so the request id, the access log and the metrics cover every answer.
    app.add_middleware(ObservabilityMiddleware, metrics=settings.metrics_enabled)
    if settings.forwarded_allow_ips:
        # Here rather than in uvicorn (which runs without proxy headers: app.core.server), so
        # that only the proxies of the settings are believed, however the app is served.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    # The patients' routes first: a request is matched against the routes in this order.
    app.include_router(patients.router)
    app.include_router(patient_history.router)  # after: a route passed costs every request
    app.include_router(wallet.router)
    app.include_router(pictures.router)
    app.include_router(appointments.series_router)
    app.include_router(appointments.router)
    app.include_router(notes.router)
    app.include_router(notes.psychotherapy_router)
    app.include_router(auth.router)
    app.include_router(auth.signed_in)
    app.include_router(calendars.router)
    app.include_router(therapists.router)
    app.include_router(documents.router)
    app.include_router(audit.router)
    app.include_router(payments.router)
    app.include_router(payments.scale_router)
    app.include_router(cards.router)
    app.include_router(invoices.router)
    app.include_router(payments.payments_router)
    app.include_router(payments.top_up_router)
    app.include_router(payments.webhook_router)
    app.include_router(statements.router)
    app.include_router(measures.router)
    app.include_router(health.router)
    if settings.metrics_enabled:
        app.include_router(metrics.router)
    mount_admin(app, settings)
    for route in app.routes:  # FastAPI's own pages (/docs, /redoc); the rest are ServiceRoutes
        if isinstance(route, APIRoute):
            answer_head(route)
    install_openapi(app)
    check_endpoints(app)
    return app


app = create_app()

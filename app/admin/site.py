"""The staff admin at /admin/ (sqladmin): the API's staff accounts, roles, rules and audit trail."""

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from sqladmin import Admin, BaseView
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.admin.alerts import AlertsView
from app.admin.appointments import AppointmentsView
from app.admin.auth import StaffLogin, StaffRoles
from app.admin.history import DeletedPatientsView, PatientHistoryView
from app.admin.money import money_views
from app.admin.security import CSRF_FIELD, csrf_token
from app.admin.services import AdminServices, AppSessions, already_audited
from app.admin.staff import PASSWORD_CHANGED, staff_views
from app.admin.views import AuditEventAdmin, PatientAdmin, patient_sections
from app.audit.actions import Action
from app.core.config import Settings
from app.core.errors import Throttled, install_database_error_handlers
from app.models.patient import is_patient_id

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"  # served beside sqladmin's own, under /admin/statics/

# (view identity, sqladmin route) -> audit action. Successful writes are audited by the view,
# in the write's own transaction; everything else here, once the page is answered.
READS = {
    ("patient", "list"): Action.ADMIN_LIST_PATIENTS,
    ("patient", "details"): Action.ADMIN_GET_PATIENT,
    ("patient", "edit"): Action.ADMIN_GET_PATIENT,
    ("audit-event", "list"): Action.ADMIN_LIST_AUDIT_EVENTS,
    ("audit-event", "details"): Action.ADMIN_GET_AUDIT_EVENT,
}
WRITES = {
    ("patient", "create"): Action.ADMIN_CREATE_PATIENT,
    ("patient", "edit"): Action.ADMIN_UPDATE_PATIENT,
    ("patient", "delete"): Action.ADMIN_DELETE_PATIENT,
}

Endpoint = Callable[[Request], Awaitable[Response]]


class TherapyAdmin(Admin):
    def __init__(self, app: FastAPI, services: AdminServices) -> None:
        self.services = services
        super().__init__(
            app,
            session_maker=AppSessions(app),
            base_url="/admin",
            title="TherapyConnect admin",
            templates_dir=str(TEMPLATES),
            authentication_backend=StaffLogin(services),
            authorization_backend=StaffRoles(),
            static_files_kwargs={"directory": STATIC},
        )
        self.templates.env.globals["patient_sections"] = patient_sections
        self.templates.env.globals["csrf_field"] = CSRF_FIELD
        self.templates.env.globals["csrf_token"] = lambda request: csrf_token(
            request, services.settings
        )
        # Logging out is a POST (with its CSRF token); a GET only asks to confirm.
        routes = self.admin.router.routes
        for index, route in enumerate(routes):
            if isinstance(route, Route) and route.name == "logout":
                routes[index] = Route(
                    "/logout", endpoint=self.logout, name="logout", methods=["GET", "POST"]
                )

    async def login(self, request: Request) -> Response:
        if request.method == "GET" and request.query_params.get(PASSWORD_CHANGED):
            context = {"message": "Your password was changed. Log in with the new one."}
            return await self.templates.TemplateResponse(request, "sqladmin/login.html", context)
        try:
            return await super().login(request)
        except Throttled as error:
            context = {"error": "Too many failed login attempts. " + error.detail}
            response = await self.templates.TemplateResponse(
                request, "sqladmin/login.html", context, status_code=error.status_code
            )
            response.headers.update(error.headers)
            return response

    async def logout(self, request: Request) -> Response:
        if request.method == "POST":
            return await super().logout(request)
        assert self.authentication_backend is not None
        if await self.authentication_backend.authenticate(request) is not True:
            return RedirectResponse(request.url_for("admin:login"), status_code=302)
        return await self.templates.TemplateResponse(request, "logout.html")

    async def list(self, request: Request) -> Response:
        return await self._audited(request, "list", super().list)

    async def details(self, request: Request) -> Response:
        return await self._audited(request, "details", super().details)

    async def edit(self, request: Request) -> Response:
        return await self._audited(request, "edit", super().edit)

    async def create(self, request: Request) -> Response:
        return await self._audited(request, "create", super().create)

    async def delete(self, request: Request) -> Response:
        return await self._audited(request, "delete", super().delete)

    async def _audited(self, request: Request, route: str, endpoint: Endpoint) -> Response:
        identity = request.path_params.get("identity", "")
        writing = request.method != "GET"
        action = (WRITES if writing else READS).get((identity, route))
        try:
            response = await endpoint(request)
        except Exception as error:
            status = error.status_code if isinstance(error, HTTPException) else 500
            await self._audit(request, action, identity, status)
            raise
        if not writing or response.status_code >= 400:
            await self._audit(request, action, identity, response.status_code)
        return response

    async def _audit(
        self, request: Request, action: Action | None, identity: str, status: int
    ) -> None:
        if action is None or already_audited(request, action):
            return
        patient_ids: list[str | None] = [None]
        if identity == "patient":
            pks = [
                request.path_params.get("pk", ""),
                *request.query_params.get("pks", "").split(","),
            ]
            patient_ids = [*dict.fromkeys(pk for pk in pks if is_patient_id(pk))] or [None]
        for patient_id in patient_ids:
            await self.services.audit_apart(request, action, patient_id, status)


def mount_admin(app: FastAPI, settings: Settings) -> TherapyAdmin:
    admin = TherapyAdmin(app, AdminServices(app, settings))
    install_database_error_handlers(admin.admin)
    views: list[type[BaseView]] = [
        PatientAdmin,
        AppointmentsView,
        AlertsView,
        *money_views(),
        PatientHistoryView,
        DeletedPatientsView,
        AuditEventAdmin,
        *staff_views(),
    ]
    for view in views:
        # A class of this app's own: sqladmin ties a view class to the admin it is added to,
        # so a view shared by two apps (a test's second app) would reach the other's database.
        admin.add_view(type(view.__name__, (view,), {}))
    return admin

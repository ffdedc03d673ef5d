"""Admin login with the API's staff accounts, and what each staff role may do in the admin."""

import hashlib
import uuid
from typing import Any

from sqladmin.authentication import AuthenticationBackend
from sqladmin.authorization import Action, AuthorizationBackend
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin.security import SESSION_KEY, CsrfGuard
from app.admin.services import STAFF_STATE, AdminServices, current_staff
from app.audit.actions import Action as AuditAction
from app.auth import devices
from app.auth.devices import DeviceTokens
from app.auth.permissions import Principal
from app.auth.record import Act, may
from app.auth.service import AuthService
from app.core.dependencies import client_address
from app.core.errors import NotAuthenticated
from app.requests.work import UnitOfWork

SESSION_COOKIE = "therapy_admin"
LOGIN_ACTION = AuditAction.ADMIN_LOGIN


def session_secret(secret_key: str) -> str:
    # The admin's cookies and the API's tokens are signed with keys derived for each purpose.
    return hashlib.sha256(b"therapyconnect admin session\x00" + secret_key.encode()).hexdigest()


class StaffLogin(AuthenticationBackend):
    """A signed session cookie (HttpOnly, SameSite=Lax, Secure in production) naming a session
    on the server; behind it, the CSRF guard of every unsafe request (it reads the session)."""

    def __init__(self, services: AdminServices) -> None:
        settings = services.settings
        assert settings.secret_key is not None, "settings fill in a development secret"
        super().__init__(
            secret_key=session_secret(settings.secret_key.get_secret_value()),
            session_cookie=SESSION_COOKIE,
            max_age=settings.admin_session_seconds,
            path="/admin",
            same_site="lax",
            https_only=settings.environment == "production",
        )
        self.middlewares.append(Middleware(CsrfGuard, settings=settings))
        self.services = services

    async def login(self, request: Request) -> Response | bool:
        """The API's login flow (AuthService.login) for staff only, with the browser's device
        cookie (app.auth.devices) and a new one after a success. Raises Throttled while failed
        attempts are used up; the admin renders it."""
        form = await request.form()
        username = str(form.get("username") or "")
        password = str(form.get("password") or "")
        auth = AuthService(self.services.database, self.services.limiter)
        known = DeviceTokens(self.services.settings)

        async def opened(work: UnitOfWork, staff: Principal) -> tuple[uuid.UUID, str]:
            return await self.services.sessions(work).open_admin(staff), known.issue(staff)

        try:
            session, device = await auth.login(
                username,
                password,
                client_address(request),
                then=opened,
                action=LOGIN_ACTION,
                staff_only=True,
                devices=known,
                device_token=request.cookies.get(devices.COOKIE),
            )
        except NotAuthenticated:
            return False
        request.session.clear()
        request.session[SESSION_KEY] = str(session)
        response = RedirectResponse(request.url_for("admin:index"), status_code=302)
        known.set_cookie(response, device, path=request.url_for("admin:login").path)
        return response

    async def logout(self, request: Request) -> Response | bool:
        """The cookie's session ends on the server: a copy of the cookie is worth nothing."""
        if (session := _session_id(request)) is not None:
            await self.services.sessions(self.services.database).end(session)
        request.session.clear()
        return RedirectResponse(request.url_for("admin:login"), status_code=302)

    async def authenticate(self, request: Request) -> Response | bool:
        """The cookie's session's staff member, while the session is open and they are active."""
        session = _session_id(request)
        staff = None
        if session is not None:
            staff = await self.services.sessions(self.services.database).admin_staff(session)
        if staff is None:
            request.session.clear()
            return False
        setattr(request.state, STAFF_STATE, staff)
        return True

    async def get_user_id(self, request: Request) -> Any:
        staff = current_staff(request)
        return staff.name if staff else None


def _session_id(request: Request) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(request.session.get(SESSION_KEY)))
    except ValueError:
        return None


class StaffRoles(AuthorizationBackend):
    """Staff may do everything sqladmin offers but delete, which only the patients' view does:
    that is the API's DELETE of a patient, and its row of the clinical record's table decides."""

    def has_permission(
        self, request: Request, identity: str, action: str, obj: Any | None = None
    ) -> bool:
        staff = current_staff(request)
        if staff is None:
            return False
        if action == Action.DELETE:
            return may(staff, Act.PATIENT_DELETE)
        return True

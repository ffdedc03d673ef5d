"""Admin login with the API's staff accounts, and what each staff role may do in the admin."""

import hashlib
from typing import Any

from sqladmin.authentication import AuthenticationBackend
from sqladmin.authorization import Action, AuthorizationBackend
from starlette.requests import Request
from starlette.responses import Response

from app.admin.services import STAFF_STATE, AdminServices, client_address, current_staff
from app.core.errors import Throttled
from app.repositories.staff import StaffRepository
from app.services.audit import AuditEntry, record_apart, record_with
from app.services.auth import Account, AuthService, staff_principal

SESSION_COOKIE = "therapy_admin"
SESSION_MAX_AGE = 8 * 60 * 60  # a working day
LOGIN_ACTION = "admin_login"


def session_secret(secret_key: str) -> str:
    # The admin's cookies and the API's tokens are signed with keys derived for each purpose.
    return hashlib.sha256(b"therapyconnect admin session\x00" + secret_key.encode()).hexdigest()


class StaffLogin(AuthenticationBackend):
    """A signed session cookie (HttpOnly, SameSite=Lax, Secure in production) naming a staff id."""

    def __init__(self, services: AdminServices) -> None:
        settings = services.settings
        assert settings.secret_key is not None, "settings fill in a development secret"
        super().__init__(
            secret_key=session_secret(settings.secret_key.get_secret_value()),
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_MAX_AGE,
            path="/admin",
            same_site="lax",
            https_only=settings.environment == "production",
        )
        self.services = services

    async def login(self, request: Request) -> Response | bool:
        """Raises Throttled while failed attempts are used up; the admin renders it."""
        form = await request.form()
        username = str(form.get("username") or "")
        password = str(form.get("password") or "")
        address = client_address(request)
        limiter = self.services.limiter
        try:
            await limiter.check_login(username, address)
        except Throttled:
            await record_apart(self.services.sessions, _entry(None, address), 429)
            raise
        async with self.services.sessions() as session, session.begin():
            auth = AuthService(session, self.services.settings)
            account = await auth.find_account(username)
            entry = _entry(account, address)
            staff = account if account is not None and account.principal.is_staff else None
            token = await auth.login(staff, password)  # patients are checked as unknown names
            if token is not None:
                await record_with(session, entry, 200)
        if token is None or staff is None:
            await limiter.failed_login(username, address)
            await record_apart(self.services.sessions, entry, 401)
            return False
        request.session.clear()
        request.session["staff_id"] = int(staff.principal.id)
        return True

    async def logout(self, request: Request) -> Response | bool:
        request.session.clear()
        return True

    async def authenticate(self, request: Request) -> Response | bool:
        """The session's staff member, if they still exist and are active."""
        staff_id = request.session.get("staff_id")
        if not isinstance(staff_id, int):
            return False
        async with self.services.sessions() as session:
            staff = await StaffRepository(session).active(staff_id)
        if staff is None:
            request.session.clear()
            return False
        setattr(request.state, STAFF_STATE, staff_principal(staff_id, staff.username, staff.role))
        return True

    async def get_user_id(self, request: Request) -> Any:
        staff = current_staff(request)
        return staff.name if staff else None


def _entry(account: Account | None, address: str) -> AuditEntry:
    principal = account.principal if account else None
    return AuditEntry(
        action=LOGIN_ACTION,
        actor=principal.name if principal else "unknown",
        actor_kind=principal.kind if principal else "anonymous",
        patient_id=principal.id if principal and not principal.is_staff else None,
        client_address=address,
    )


class StaffRoles(AuthorizationBackend):
    """Admins may do everything; therapists everything but delete, as in the API."""

    def has_permission(
        self, request: Request, identity: str, action: str, obj: Any | None = None
    ) -> bool:
        staff = current_staff(request)
        if staff is None:
            return False
        if action == Action.DELETE:
            return staff.role == "admin"
        return True

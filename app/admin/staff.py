"""Staff self-service and staff management in the admin, through app.auth.staff in the audited
unit of work: any staff member changes their own password; an admin lists, creates,
deactivates and reactivates staff and has a password reset link mailed to them (app.auth.reset:
an admin never sets another's password). Admins only, as the API's admin-only endpoints: a
therapist has no menu entry and a 403 at every URL."""

from sqladmin import BaseView, expose
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from wtforms import Form

from app.admin.forms import (
    PasswordChangeForm,
    ResetLinkForm,
    StaffCreateForm,
    StaffForm,
    validated,
)
from app.admin.services import flash, path_id, signed_in
from app.admin.views import admins_only, services_of
from app.audit.actions import Action
from app.auth.reauth import Reauthentication
from app.auth.reset import PasswordResets
from app.auth.schemas import PasswordChange, StaffCreate, StaffRow
from app.auth.staff import StaffService
from app.core.dependencies import client_address
from app.core.errors import NotFound, PermissionDenied, Throttled, ValidationFailed
from app.core.ids import INTEGER_MAX

# The login page's query parameter after a password change.
PASSWORD_CHANGED = "password_changed"  # noqa: S105


def _values(form: FormData, names: tuple[str, ...]) -> dict[str, str]:
    return {name: value if isinstance(value := form.get(name), str) else "" for name in names}


def _staff_id(request: Request) -> int:
    return path_id(request, "pk", INTEGER_MAX)


class FormPage:
    """What both views share: one form page, and the audited write behind it."""

    async def _form_page(
        self,
        request: Request,
        form: Form,
        *,
        title: str,
        action: str,
        submit: str,
        status_code: int = 200,
        subject: StaffRow | None = None,
        note: str | None = None,
    ) -> Response:
        context = {
            "note": note,
            "form": form,
            "title": title,
            "action": action,
            "submit": submit,
            "subject": subject,
        }
        templates = getattr(self, "templates")  # noqa: B009 - set by sqladmin on the view class
        response: Response = await templates.TemplateResponse(
            request, "staff_form.html", context, status_code=status_code
        )
        return response


class AccountView(FormPage, BaseView):
    """The logged-in staff member's own account."""

    name = "Change password"
    icon = "fa-solid fa-key"

    @expose("/account/password", methods=["GET", "POST"], identity="account-password")
    async def change_password(self, request: Request) -> Response:
        """Current password required; then every session of theirs ends, this one too. A wrong
        current password counts as a failed login of the account from this address (the login's
        limits and delays: LOGIN_RATE_LIMIT)."""
        form = PasswordChangeForm()
        status_code, headers = 200, {}
        if request.method == "POST":
            values = _values(await request.form(), ("current_password", "new_password"))
            services = services_of(self)
            me = signed_in(request)
            reauthentication = Reauthentication(services.limiter, client_address(request))
            try:
                async with services.work(request, Action.ADMIN_CHANGE_OWN_PASSWORD, None) as work:
                    payload = validated(PasswordChange, values)
                    staff = StaffService(work, services.sessions(work))
                    await staff.change_password(me, payload, reauthentication)
            except Throttled as error:
                form.form_errors.append("Too many wrong passwords. " + error.detail)
                status_code, headers = error.status_code, error.headers
            except ValidationFailed as error:
                form.show_errors(error.errors)
                status_code = 400
            else:
                request.session.clear()
                login = request.url_for("admin:login").include_query_params(
                    **{PASSWORD_CHANGED: "1"}
                )
                return RedirectResponse(login, status_code=302)
        response = await self._form_page(
            request,
            form,
            title="Change your password",
            action=str(request.url_for("admin:view-account-password")),
            submit="Change password",
            status_code=status_code,
        )
        response.headers.update(headers)
        return response


class StaffView(FormPage, BaseView):
    """Staff accounts, for admins."""

    name = "Staff"
    icon = "fa-solid fa-user-gear"

    def is_accessible(self, request: Request) -> bool:
        return admins_only(request)

    def is_visible(self, request: Request) -> bool:
        return admins_only(request)

    @expose("/staff", methods=["GET"], identity="staff")
    async def staff_list(self, request: Request) -> Response:
        services = services_of(self)
        async with services.work(request, Action.ADMIN_LIST_STAFF, None) as work:
            rows = await StaffService(work, services.sessions(work)).list()
        context = {"staff": rows, "me": signed_in(request)}
        response: Response = await self.templates.TemplateResponse(
            request, "staff_list.html", context
        )
        return response

    @expose("/staff/new", methods=["GET", "POST"], identity="staff-create")
    async def staff_create(self, request: Request) -> Response:
        form = StaffCreateForm()
        if request.method == "POST":
            values = _values(await request.form(), ("username", "email", "role", "password"))
            form = StaffCreateForm(data={k: v for k, v in values.items() if k != "password"})
            services = services_of(self)
            try:
                async with services.work(request, Action.ADMIN_CREATE_STAFF, None) as work:
                    payload = validated(StaffCreate, values)
                    created = await StaffService(work, services.sessions(work)).create(payload)
            except ValidationFailed as error:
                form.show_errors(error.errors)
            else:
                flash(request, f"Staff member {created['username']} created.")
                return self._to_list(request)
        return await self._form_page(
            request,
            form,
            title="New staff member",
            action=str(request.url_for("admin:view-staff-create")),
            submit="Create",
            status_code=400 if form.errors or form.form_errors else 200,
        )

    @expose("/staff/{pk}/password", methods=["GET", "POST"], identity="staff-password")
    async def staff_password(self, request: Request) -> Response:
        """An admin has a reset link mailed to a staff member, who sets their new password
        themself (their sessions end then, not now)."""
        staff_id = _staff_id(request)
        services = services_of(self)
        form: StaffForm = ResetLinkForm()
        action = (
            Action.ADMIN_RESET_STAFF_PASSWORD
            if request.method == "POST"
            else Action.ADMIN_GET_STAFF
        )
        try:
            async with services.work(request, action, None) as work:
                if request.method == "POST":
                    resets = PasswordResets(services.database, services.limiter, services.settings)
                    subject = await resets.start(work, signed_in(request), staff_id)
                else:
                    subject = await StaffService(work, services.sessions(work)).get(staff_id)
        except NotFound:
            raise HTTPException(status_code=404) from None
        except PermissionDenied as error:
            flash(request, error.detail, error=True)
            return self._to_list(request)
        except ValidationFailed as error:
            form.show_errors(error.errors)
            async with services.work(request, Action.ADMIN_GET_STAFF, None) as work:
                subject = await StaffService(work, services.sessions(work)).get(staff_id)
        else:
            if request.method == "POST":
                flash(
                    request,
                    f"A password reset link was mailed to {subject['username']}; it works for "
                    f"{services.settings.password_reset_ttl_seconds // 60} minutes.",
                )
                return self._to_list(request)
        return await self._form_page(
            request,
            form,
            title=f"Mail {subject['username']} a link to reset their password",
            action=str(request.url_for("admin:view-staff-password", pk=staff_id)),
            submit="Send reset link",
            status_code=400 if form.errors or form.form_errors else 200,
            subject=subject,
            note=(
                "A link to choose a new password is mailed to their own e-mail address; nobody "
                "else sees it. Their password and sessions stay as they are until they use it."
            ),
        )

    @expose("/staff/{pk}/active", methods=["POST"], identity="staff-active")
    async def staff_active(self, request: Request) -> Response:
        """Deactivate (their sessions end) or reactivate a staff member; never oneself."""
        staff_id = _staff_id(request)
        active = (await request.form()).get("active") == "1"
        services = services_of(self)
        action = Action.ADMIN_REACTIVATE_STAFF if active else Action.ADMIN_DEACTIVATE_STAFF
        try:
            async with services.work(request, action, None) as work:
                staff = StaffService(work, services.sessions(work))
                row = await staff.set_active(signed_in(request), staff_id, active=active)
        except NotFound:
            raise HTTPException(status_code=404) from None
        except PermissionDenied as error:
            flash(request, error.detail, error=True)
            return self._to_list(request)
        done = "reactivated" if active else "deactivated; their sessions ended"
        flash(request, f"Staff member {row['username']} {done}.")
        return self._to_list(request)

    def _to_list(self, request: Request) -> Response:
        return RedirectResponse(request.url_for("admin:view-staff"), status_code=302)


def staff_views() -> list[type[BaseView]]:
    return [AccountView, StaffView]

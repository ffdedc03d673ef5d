"""Appointments in the admin: a day per therapist (or all), booking and cancelling, through the
API's AppointmentService in the audited unit of work, so every rule (availability, overlaps,
transitions, fees, reminders) and every audit event is the API's own."""

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError
from sqladmin import BaseView, expose
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from wtforms import BooleanField, SelectField, StringField, TextAreaField

from app.admin.forms import TEXT, StaffForm
from app.admin.services import AdminServices, error_message, flash, path_id, signed_in
from app.admin.staff import FormPage
from app.admin.views import services_of
from app.appointments.schemas import (
    AppointmentCancel,
    AppointmentCreate,
    AppointmentListQuery,
)
from app.appointments.service import AppointmentService
from app.audit.actions import Action
from app.auth.permissions import may_override_availability
from app.core.errors import AppError, NotFound, ValidationFailed, validation_errors
from app.core.fields import DATETIME_RANGE, in_range
from app.core.ids import INTEGER_MAX, parse_id
from app.therapists.schemas import TherapistListQuery, TherapistRow
from app.therapists.service import TherapistService

DAY_LIMIT = 200  # appointments shown on one day's page
THERAPIST_LIMIT = 500
KIND_CHOICES = [("in_person", "In person"), ("video", "Video")]
CANCELLABLE = ("proposed", "booked")


class AppointmentForm(StaffForm):
    patient = StringField("Patient id", render_kw=TEXT, description="e.g. p_4k2x9a")
    therapist = SelectField(
        "Therapist", choices=[], validate_choice=False, render_kw={"class": "form-select"}
    )
    start = StringField("Start", render_kw={**TEXT, "type": "datetime-local"})
    duration = StringField(
        "Length in minutes", default="50", render_kw={**TEXT, "inputmode": "numeric"}
    )
    kind = SelectField(
        "Kind", choices=KIND_CHOICES, validate_choice=False, render_kw={"class": "form-select"}
    )
    note = TextAreaField(
        "Note", render_kw={**TEXT, "rows": 2}, description="At most 500 characters."
    )
    override_availability = BooleanField(
        "Book outside the therapist's hours or time off (admins; audited)",
        render_kw={"class": "form-check-input"},
    )


def _day(request: Request, today: date) -> date:
    """The day asked for; today when there is none, or none the API could take."""
    try:
        day = date.fromisoformat(request.query_params.get("day", ""))
    except ValueError:
        return today
    return day if in_range(day) else today


def _therapist_filter(request: Request) -> int | None:
    return parse_id(request.query_params.get("therapist", ""), INTEGER_MAX)


def _appointment_id(request: Request) -> int:
    return path_id(request, "pk")


def _name(therapist: Mapping[str, Any]) -> str:
    return str(therapist.get("display_name") or therapist.get("username") or therapist["id"])


class AppointmentsView(FormPage, BaseView):
    """Every staff member sees the day; a therapist books and cancels only their own (the
    service's rule)."""

    name = "Appointments"
    icon = "fa-solid fa-calendar-days"

    @expose("/appointments", methods=["GET"], identity="appointments")
    async def day(self, request: Request) -> Response:
        services = services_of(self)
        zone = services.settings.clinic_zone
        day = _day(request, datetime.now(zone).date())
        therapist_id = _therapist_filter(request)
        start = datetime.combine(day, time(), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
        query = AppointmentListQuery(
            therapist=therapist_id, start_after=start, start_before=end, ordering="start"
        )
        async with services.work(request, Action.ADMIN_LIST_APPOINTMENTS, None) as work:
            therapists = await self._therapists(work)
            appointments = await AppointmentService(work, services.settings).list(
                query, signed_in(request), offset=0, limit=DAY_LIMIT
            )
        names = {therapist["id"]: _name(therapist) for therapist in therapists}
        context = {
            "day": day,
            "previous_day": day - timedelta(days=1),
            "next_day": day + timedelta(days=1),
            "zone": zone.key,
            "therapists": therapists,
            "therapist_id": therapist_id,
            "names": names,
            "appointments": [
                {
                    **row,
                    "local_start": row["starts_at"].astimezone(zone),
                    "local_end": row["ends_at"].astimezone(zone),
                }
                for row in appointments
            ],
            "cancellable": CANCELLABLE,
        }
        response: Response = await self.templates.TemplateResponse(
            request, "appointment_day.html", context
        )
        return response

    @expose("/appointments/new", methods=["GET", "POST"], identity="appointment-create")
    async def create(self, request: Request) -> Response:
        services = services_of(self)
        form = AppointmentForm()
        status_code = 200
        me = signed_in(request)
        if request.method == "POST":
            submitted = await request.form()
            values = {name: str(submitted.get(name, "")) for name in form._fields}
            form = AppointmentForm(
                data={
                    **values,
                    "override_availability": bool(submitted.get("override_availability")),
                }
            )
            try:
                async with services.work(request, Action.ADMIN_CREATE_APPOINTMENT, None) as work:
                    payload = self._payload(
                        values, services, override=bool(submitted.get("override_availability"))
                    )
                    created = await AppointmentService(work, services.settings).create(payload, me)
            except ValidationFailed as error:
                form.show_errors(error.errors)
                status_code = 400
            except AppError as error:
                form.form_errors.append(error.detail)
                status_code = error.status_code
            else:
                flash(request, f"Appointment {created['id']} booked.")
                day = created["starts_at"].astimezone(services.settings.clinic_zone).date()
                target = request.url_for("admin:view-appointments").include_query_params(
                    day=day.isoformat(), therapist=created["therapist_id"]
                )
                return RedirectResponse(target, status_code=302)
        async with services.work(request, Action.ADMIN_LIST_THERAPISTS, None) as work:
            therapists = await self._therapists(work)
        form.therapist.choices = [(str(row["id"]), _name(row)) for row in therapists]
        if not may_override_availability(me):
            del form.override_availability
        return await self._form_page(
            request,
            form,
            title=f"Book an appointment (times in {services.settings.clinic_timezone})",
            action=str(request.url_for("admin:view-appointment-create")),
            submit="Book",
            status_code=status_code,
        )

    @expose("/appointments/{pk}/cancel", methods=["POST"], identity="appointment-cancel")
    async def cancel(self, request: Request) -> Response:
        appointment_id = _appointment_id(request)
        services = services_of(self)
        form = await request.form()
        reason = str(form.get("reason", "")).strip() or None
        waive_fee = form.get("waive_fee") == "1"
        try:
            async with services.work(request, Action.ADMIN_CANCEL_APPOINTMENT, None) as work:
                cancelled = await AppointmentService(work, services.settings).cancel(
                    appointment_id,
                    AppointmentCancel(reason=reason, waive_fee=waive_fee),
                    signed_in(request),
                )
        except NotFound:
            raise HTTPException(status_code=404) from None
        except ValidationError as error:
            messages = validation_errors(error.errors())
            flash(request, " ".join(m for ms in messages.values() for m in ms), error=True)
            return RedirectResponse(request.url_for("admin:view-appointments"), status_code=302)
        except AppError as error:
            flash(request, error_message(error), error=True)
            return RedirectResponse(request.url_for("admin:view-appointments"), status_code=302)
        flash(request, f"Appointment {appointment_id} cancelled.")
        day = cancelled["starts_at"].astimezone(services.settings.clinic_zone).date()
        target = request.url_for("admin:view-appointments").include_query_params(
            day=day.isoformat()
        )
        return RedirectResponse(target, status_code=302)

    async def _therapists(self, work: Any) -> list[TherapistRow]:
        return await TherapistService(work).page(
            TherapistListQuery(is_active=True), offset=0, limit=THERAPIST_LIMIT
        )

    @staticmethod
    def _payload(
        values: dict[str, str], services: AdminServices, *, override: bool
    ) -> AppointmentCreate:
        """The form as the API's AppointmentCreate: a local start and a length in minutes."""
        errors: dict[str, list[str]] = {}
        start: datetime | None = None
        try:
            start = datetime.fromisoformat(values["start"]).replace(
                tzinfo=services.settings.clinic_zone
            )
        except ValueError:
            errors["start"] = ["Enter a date and time."]
        else:
            if not in_range(start):  # before its end is computed from it
                errors["start"] = [DATETIME_RANGE]
        duration = values["duration"].strip()
        if not (duration.isascii() and duration.isdigit() and len(duration) <= 4):
            errors["duration"] = ["Enter a whole number of minutes."]
        if errors or start is None:
            raise ValidationFailed(errors)
        data = {
            "patient": values["patient"].strip(),
            "therapist": values["therapist"],
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=int(duration))).isoformat(),
            "kind": values["kind"] or "in_person",
            "note": values["note"].strip() or None,
            "override_availability": override,
        }
        try:
            return AppointmentCreate.model_validate(data)
        except ValidationError as error:
            found = validation_errors(error.errors())
            if "end" in found:
                found["duration"] = found.pop("end")
            raise ValidationFailed(found) from None

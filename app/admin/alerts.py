"""Safety alerts in the admin: the open ones (a therapist their patients', admins all), each
acknowledged here with a note. Through MeasureService in the audited unit of work, so the API's
rules hold: another therapist's alert is a 403, a second acknowledgement a 409 shown in the
page, a blank note a 400 shown in its form."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqladmin import BaseView, expose
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin.services import AdminServices, flash, path_id, signed_in
from app.admin.views import services_of
from app.audit.actions import Action
from app.core.errors import (
    AppError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    validation_errors,
)
from app.measures.schemas import AlertAcknowledge
from app.measures.service import MeasureService, rule_message
from app.models.measures import NOTE_MAX_LENGTH

PAGE_SIZE = 50
NOTE = "note"


@dataclass
class Refused:
    """An acknowledgement the service refused: the note typed, and why (by field or above)."""

    alert: int
    note: str
    fields: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def _page(request: Request) -> int:
    value = request.query_params.get("page", "1")
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) < 10**6 else 1


def _local(moment: datetime | None, services: AdminServices) -> str:
    if moment is None:
        return "—"
    return f"{moment.astimezone(services.settings.clinic_zone):%Y-%m-%d %H:%M}"


def _acknowledgement(note: str) -> AlertAcknowledge:
    try:
        return AlertAcknowledge.model_validate({NOTE: note})
    except ValidationError as error:
        raise ValidationFailed(validation_errors(error.errors())) from None


def _refused(alert_id: int, note: str, error: AppError) -> Refused:
    refused = Refused(alert_id, note)
    if isinstance(error, ValidationFailed):
        for name, messages in error.errors.items():
            (refused.fields if name == NOTE else refused.messages).extend(messages)
    else:
        refused.messages.append(str(error.detail))
    return refused


class AlertsView(BaseView):
    """Every staff member: a therapist sees and acknowledges their patients' alerts (a 403 on
    another's), admins every one."""

    name = "Safety alerts"
    icon = "fa-solid fa-bell"

    @expose("/alerts", methods=["GET"], identity="alerts")
    async def alerts(self, request: Request) -> Response:
        return await self._alerts_page(request)

    @expose("/alerts/{pk}/acknowledge", methods=["POST"], identity="alert-acknowledge")
    async def acknowledge(self, request: Request) -> Response:
        alert_id = path_id(request, "pk")
        services = services_of(self)
        form = await request.form()
        value = form.get(NOTE)
        note = value if isinstance(value, str) else ""
        try:
            async with services.work(request, Action.ADMIN_ACKNOWLEDGE_ALERT, None) as work:
                payload = _acknowledgement(note)
                measures = MeasureService(work, services.settings)
                await measures.acknowledge(alert_id, payload.note, signed_in(request))
        except NotFound:
            raise HTTPException(status_code=404) from None
        except PermissionDenied:
            raise HTTPException(status_code=403) from None
        except AppError as error:
            refused = _refused(alert_id, note, error)
            return await self._alerts_page(request, refused, error.status_code)
        flash(request, f"Alert {alert_id} acknowledged.")
        return RedirectResponse(request.url_for("admin:view-alerts"), status_code=302)

    async def _alerts_page(
        self, request: Request, refused: Refused | None = None, status_code: int = 200
    ) -> Response:
        services = services_of(self)
        page = _page(request)
        exact_up_to = services.settings.list_exact_count_limit or None
        async with services.work(request, Action.ADMIN_LIST_ALERTS, None) as work:
            measures = MeasureService(work, services.settings)
            filters = measures.alert_filters("open", None, signed_in(request))
            counted = await measures.count_alerts(filters, exact_up_to=exact_up_to)
            found = await measures.alerts(
                filters, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1
            )
        alerts: list[Mapping[str, Any]] = [
            {
                **row,
                "message": rule_message(row),
                "created": _local(row["created_at"], services),
                "escalates": _local(row["escalate_at"], services),
                "escalated": _local(row["escalated_at"], services)
                if row["escalated_at"] is not None
                else None,
            }
            for row in found[:PAGE_SIZE]
        ]
        context = {
            "count": counted,
            "alerts": alerts,
            "page": page,
            "has_next": len(found) > PAGE_SIZE,
            "refused": refused,
            "refused_elsewhere": refused is not None
            and all(alert["id"] != refused.alert for alert in alerts),
            "note_max": NOTE_MAX_LENGTH,
        }
        response: Response = await self.templates.TemplateResponse(
            request, "alert_list.html", context, status_code=status_code
        )
        return response

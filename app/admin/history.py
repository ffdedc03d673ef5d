"""A patient's record history in the admin (each version with its field-level changes; admins
restore one), and the deleted patients an admin may still restore, through PatientService, so
the API's rules and audit events are the admin's too."""

from datetime import UTC, datetime
from typing import Any

from sqladmin import BaseView, expose
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin.services import error_message, flash, path_id
from app.admin.views import may_in_record, services_of
from app.audit.actions import Action
from app.auth.record import Act
from app.core.errors import AppError, NotFound
from app.models.history import REASON_MAX_LENGTH
from app.models.patient import is_patient_id
from app.patients.schemas import changes_between
from app.patients.service import PatientService

PAGE_SIZE = 50


def _patient_id(request: Request) -> str:
    pk = str(request.path_params.get("pk", ""))
    if not is_patient_id(pk):
        raise HTTPException(status_code=404)
    return pk


def _page(request: Request) -> int:
    value = request.query_params.get("page", "1")
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) < 10**6 else 1


async def _reason(request: Request) -> str | None:
    form = await request.form()
    reason = str(form.get("reason", "")).strip()
    return reason[:REASON_MAX_LENGTH] or None


class PatientHistoryView(BaseView):
    """Staff read a patient's history (linked from the patient's page); admins restore a
    version."""

    name = "History"

    def is_visible(self, request: Request) -> bool:
        return False

    @expose("/patients/{pk}/history", methods=["GET"], identity="patient-history")
    async def history(self, request: Request) -> Response:
        patient_id = _patient_id(request)
        page = _page(request)
        services = services_of(self)
        async with services.work(request, Action.ADMIN_PATIENT_HISTORY, patient_id) as work:
            rows = await PatientService(work).history_records(
                patient_id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1
            )
        if not rows:
            raise HTTPException(status_code=404)
        shown = rows[:PAGE_SIZE]
        versions: list[dict[str, Any]] = [
            {
                **row,
                "changes": changes_between(row, rows[n + 1] if n + 1 < len(rows) else None),
            }
            for n, row in enumerate(shown)
        ]
        context = {
            "patient_id": patient_id,
            "versions": versions,
            "page": page,
            "has_next": len(rows) > PAGE_SIZE,
            "may_restore": may_in_record(request, Act.HISTORY_RESTORE),
            "reason_max": REASON_MAX_LENGTH,
        }
        response: Response = await self.templates.TemplateResponse(
            request, "patient_history.html", context
        )
        return response

    @expose(
        "/patients/{pk}/history/{version}/restore",
        methods=["POST"],
        identity="patient-version-restore",
    )
    async def restore_version(self, request: Request) -> Response:
        patient_id, version = _patient_id(request), path_id(request, "version")
        if not may_in_record(request, Act.HISTORY_RESTORE):
            raise HTTPException(status_code=403)
        services = services_of(self)
        reason = await _reason(request)
        target = request.url_for("admin:view-patient-history", pk=patient_id)
        try:
            async with services.work(
                request, Action.ADMIN_RESTORE_PATIENT_VERSION, patient_id
            ) as work:
                await PatientService(work).restore(patient_id, version, reason=reason)
        except NotFound:
            raise HTTPException(status_code=404) from None
        except AppError as error:
            flash(request, error_message(error), error=True)
            return RedirectResponse(target, status_code=302)
        flash(request, f"Version {version} restored as a new version.")
        return RedirectResponse(target, status_code=302)


class DeletedPatientsView(BaseView):
    """Admins list deleted patients and restore them within the retention period."""

    name = "Deleted patients"
    icon = "fa-solid fa-trash-arrow-up"

    def is_accessible(self, request: Request) -> bool:
        return may_in_record(request, Act.DELETED_RESTORE)

    def is_visible(self, request: Request) -> bool:
        return may_in_record(request, Act.DELETED_RESTORE)

    # The menu links to the identity of the exposed method sqladmin meets last, in name order.
    @expose("/deleted-patients", methods=["GET"], identity="deleted-patients")
    async def view_deleted(self, request: Request) -> Response:
        page = _page(request)
        services = services_of(self)
        async with services.work(request, Action.ADMIN_LIST_DELETED_PATIENTS, None) as work:
            rows = await PatientService(work).deleted(
                offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1
            )
        now = datetime.now(UTC)
        context = {
            "patients": [
                {**row, "restorable": row["purge_after"] >= now} for row in rows[:PAGE_SIZE]
            ],
            "page": page,
            "has_next": len(rows) > PAGE_SIZE,
            "reason_max": REASON_MAX_LENGTH,
        }
        response: Response = await self.templates.TemplateResponse(
            request, "deleted_patients.html", context
        )
        return response

    @expose("/deleted-patients/{pk}/restore", methods=["POST"], identity="deleted-patient-restore")
    async def restore_deleted(self, request: Request) -> Response:
        patient_id = _patient_id(request)
        services = services_of(self)
        reason = await _reason(request)
        try:
            async with services.work(
                request, Action.ADMIN_RESTORE_DELETED_PATIENT, patient_id
            ) as work:
                await PatientService(work).undelete(patient_id, reason=reason)
        except NotFound:
            raise HTTPException(status_code=404) from None
        except AppError as error:
            flash(request, error_message(error), error=True)
            return RedirectResponse(request.url_for("admin:view-deleted-patients"), status_code=302)
        flash(request, f"Patient {patient_id} restored.")
        target = request.url_for("admin:details", identity="patient", pk=patient_id)
        return RedirectResponse(target, status_code=302)

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response, status

from app.appointments.dependencies import AppointmentIdPath, SeriesIdPath
from app.appointments.schemas import (
    CONFLICT_EXAMPLE,
    SERIES_CONFLICT_EXAMPLE,
    AppointmentCancel,
    AppointmentCreate,
    AppointmentListQuery,
    AppointmentRead,
    AppointmentRow,
    AppointmentUpdate,
    ConflictBody,
    Occurrence,
    SeriesCancel,
    SeriesConflictBody,
    SeriesCreate,
    SeriesRead,
    SeriesRow,
)
from app.appointments.service import AppointmentService
from app.audit.actions import Action
from app.auth.access import SignedInCaller, StaffCaller
from app.auth.dependencies import Caller
from app.core.conditional import ConditionalDep, tag
from app.core.dependencies import PageRequestDep
from app.core.openapi import BODY_ERRORS, COMMON_ERRORS, errors, tagged
from app.core.pagination import Page, paginate
from app.core.querystring import QueryModel
from app.idempotency.dependencies import Idempotent
from app.requests.routing import AuditedRoute

ETAG = tagged(resource="appointment")
ETAG_CREATED = tagged(201, "appointment")

router = APIRouter(prefix="/api/appointments", tags=["appointments"], route_class=AuditedRoute)

ListQueryDep = Annotated[AppointmentListQuery, Depends(QueryModel(AppointmentListQuery))]


def _conflict(model: Any, example: dict[str, Any], description: str) -> dict[int | str, Any]:
    """A 409 of this body: an overlap, or (detail only) an Idempotency-Key still in use."""
    return {
        409: {
            "model": model,
            "description": description,
            "content": {"application/json": {"example": example}},
        }
    }


OVERLAP = _conflict(
    ConflictBody,
    CONFLICT_EXAMPLE,
    "The time overlaps an active appointment of the therapist or of the patient "
    "(`conflicting_appointment` names it), or a request with this Idempotency-Key is still "
    "being processed (`detail` only, with Retry-After).",
)
SERIES_OVERLAP = _conflict(
    SeriesConflictBody,
    SERIES_CONFLICT_EXAMPLE,
    "Some occurrences overlap an appointment or fall outside the therapist's availability "
    "(`conflicts` lists each), and skip_conflicts was false (or none could be booked); or a "
    "request with this Idempotency-Key is still being processed (`detail` only).",
)


def _service(caller: Caller) -> AppointmentService:
    return AppointmentService(caller.work, caller.request.app.state.settings)


def _answer(
    service: AppointmentService, row: AppointmentRow, response: Response
) -> AppointmentRead:
    tag(response, row["version"])
    return AppointmentRead.of(row, service.zone)


def _series(
    service: AppointmentService,
    series: SeriesRow,
    appointments: list[AppointmentRow],
    skipped: list[dict[str, Any]] | None = None,
) -> SeriesRead:
    return SeriesRead(
        id=series["id"],
        rrule=series["rrule"],
        patient=series["patient_id"],
        therapist=series["therapist_id"],
        service=series["service_id"],
        appointments=[AppointmentRead.of(row, service.zone) for row in appointments],
        skipped=[Occurrence.model_validate(item) for item in skipped or []],
        created_at=series["created_at"].astimezone(service.zone),
    )


@router.get(
    "/",
    name=Action.LIST_APPOINTMENTS,
    response_model=Page[AppointmentRead],
    summary="List appointments",
    response_description="A page of appointments (a patient's: their own only).",
    responses=errors(400, *COMMON_ERRORS, 404),
)
async def list_appointments(
    caller: SignedInCaller, query: ListQueryDep, page_request: PageRequestDep
) -> Page[AppointmentRead]:
    """List appointments, filtered by therapist, patient, status (repeatable), start_after
    and start_before; ordered by start (default), created_at or updated_at, ties by id."""
    service = _service(caller)
    actor = await caller.principal()

    async def fetch(offset: int, limit: int) -> list[AppointmentRead]:
        rows = await service.list(query, actor, offset=offset, limit=limit)
        return [AppointmentRead.of(row, service.zone) for row in rows]

    return await paginate(
        caller.links,
        page_request,
        AppointmentRead,
        count=lambda exact_up_to: service.count(query, actor, exact_up_to=exact_up_to),
        fetch=fetch,
    )


@router.post(
    "/",
    name=Action.CREATE_APPOINTMENT,
    response_model=AppointmentRead,
    status_code=status.HTTP_201_CREATED,
    summary="Book an appointment",
    response_description="The appointment booked; Location is its URL.",
    responses={
        **errors(*BODY_ERRORS, *COMMON_ERRORS, 422),
        **OVERLAP,
        **ETAG_CREATED,
    },
)
async def create_appointment(
    payload: AppointmentCreate, caller: SignedInCaller, _: Idempotent, response: Response
) -> AppointmentRead:
    """Book (or propose) an appointment within the therapist's hours and outside their time
    off; an overlap with an active appointment of the therapist or the patient is a 409."""
    service = _service(caller)
    appointment = await service.create(payload, await caller.principal())
    response.headers["Location"] = caller.links.to(f"api/appointments/{appointment['id']}/")
    return _answer(service, appointment, response)


@router.get(
    "/{appointment_id}/",
    name=Action.GET_APPOINTMENT,
    response_model=AppointmentRead,
    summary="Read an appointment",
    response_description="The appointment.",
    responses={**errors(*COMMON_ERRORS, 404), **ETAG},
)
async def get_appointment(
    appointment_id: AppointmentIdPath, caller: SignedInCaller, response: Response
) -> AppointmentRead:
    """Read one appointment; the ETag header is its current version, for If-Match."""
    service = _service(caller)
    appointment = await service.get(appointment_id, await caller.principal())
    return _answer(service, appointment, response)


@router.patch(
    "/{appointment_id}/",
    name=Action.UPDATE_APPOINTMENT,
    response_model=AppointmentRead,
    summary="Change an appointment",
    response_description="The appointment as changed.",
    responses={
        **errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 412),
        **OVERLAP,
        **ETAG,
    },
)
async def update_appointment(
    appointment_id: AppointmentIdPath,
    caller: StaffCaller,
    cond: ConditionalDep,
    payload: Annotated[AppointmentUpdate, Body()] = AppointmentUpdate(),
) -> AppointmentRead:
    """Move, change or change the status of an appointment (staff; a therapist their own).
    Status changes only along the legal transitions; fulfilled records the session in the
    patient's history and issues its service's invoice, noshow issues an invoice of
    NOSHOW_FEE."""
    service = _service(caller)
    actor = await caller.principal()
    appointment = await service.update(appointment_id, payload, actor, versions=cond.versions)
    return _answer(service, appointment, cond.response)


@router.post(
    "/{appointment_id}/cancel/",
    name=Action.CANCEL_APPOINTMENT,
    response_model=AppointmentRead,
    summary="Cancel an appointment",
    response_description="The appointment, cancelled.",
    responses={
        **errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 412, 422),
        **ETAG,
    },
)
async def cancel_appointment(
    appointment_id: AppointmentIdPath,
    caller: SignedInCaller,
    cond: ConditionalDep,
    _: Idempotent,
    payload: Annotated[AppointmentCancel, Body()] = AppointmentCancel(),
) -> AppointmentRead:
    """Cancel a proposed or booked appointment. A patient cancels their own up to
    CANCELLATION_NOTICE_HOURS before it starts; staff cancelling later issue an invoice of
    LATE_CANCELLATION_FEE unless waive_fee."""
    service = _service(caller)
    actor = await caller.principal()
    appointment = await service.cancel(appointment_id, payload, actor, versions=cond.versions)
    return _answer(service, appointment, cond.response)


series_router = APIRouter(
    prefix="/api/appointments/series", tags=["appointments"], route_class=AuditedRoute
)


@series_router.post(
    "/",
    name=Action.CREATE_APPOINTMENT_SERIES,
    response_model=SeriesRead,
    status_code=status.HTTP_201_CREATED,
    summary="Book a recurring series",
    response_description="The series and the appointments booked (and those skipped).",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 422), **SERIES_OVERLAP},
)
async def create_appointment_series(
    payload: SeriesCreate, caller: SignedInCaller, _: Idempotent, response: Response
) -> SeriesRead:
    """Book every occurrence of a weekly RRULE (in the clinic's wall time) in one
    transaction, each checked for availability and overlap: all or nothing, or with
    skip_conflicts the free ones."""
    service = _service(caller)
    series, booked, skipped = await service.create_series(payload, await caller.principal())
    response.headers["Location"] = caller.links.to(f"api/appointments/series/{series['id']}/")
    return _series(service, series, booked, skipped)


@series_router.get(
    "/{series_id}/",
    name=Action.GET_APPOINTMENT_SERIES,
    response_model=SeriesRead,
    summary="Read a series",
    response_description="The series and its appointments.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def get_appointment_series(series_id: SeriesIdPath, caller: SignedInCaller) -> SeriesRead:
    """Read a series and its appointments, earliest first."""
    service = _service(caller)
    series, appointments = await service.get_series(series_id, await caller.principal())
    return _series(service, series, appointments)


@series_router.post(
    "/{series_id}/cancel/",
    name=Action.CANCEL_APPOINTMENT_SERIES,
    response_model=SeriesRead,
    summary="Cancel the rest of a series",
    response_description="The series and its appointments, as cancelled.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 422),
)
async def cancel_appointment_series(
    series_id: SeriesIdPath,
    caller: StaffCaller,
    _: Idempotent,
    payload: Annotated[SeriesCancel, Body()] = SeriesCancel(),
) -> SeriesRead:
    """Cancel the series' proposed and booked appointments that start at or after `from`
    (default now); staff only (a therapist their own series). No fee is billed."""
    service = _service(caller)
    series, appointments = await service.cancel_series(series_id, payload, await caller.principal())
    return _series(service, series, appointments)

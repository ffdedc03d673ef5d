from typing import Annotated

from fastapi import APIRouter, Body, status

from app.audit.actions import Action
from app.auth.access import SignedInCaller, StaffCaller
from app.core.dependencies import PageRequestDep, SettingsDep
from app.core.openapi import BODY_ERRORS, COMMON_ERRORS, errors
from app.core.pagination import Page, paginate
from app.idempotency.dependencies import Idempotent
from app.requests.routing import AuditedRoute
from app.therapists.dependencies import (
    AvailabilityQueryDep,
    TherapistIdPath,
    TherapistListQueryDep,
    TimeOffIdPath,
)
from app.therapists.schemas import (
    AvailabilityRead,
    HoursRead,
    HoursUpdate,
    TherapistRead,
    TherapistUpdate,
    TimeOffCreate,
    TimeOffRead,
)
from app.therapists.service import TherapistService

router = APIRouter(prefix="/api/therapists", tags=["therapists"], route_class=AuditedRoute)


@router.get(
    "/",
    name=Action.LIST_THERAPISTS,
    response_model=Page[TherapistRead],
    summary="List therapists",
    response_description="A page of therapists.",
    responses=errors(400, *COMMON_ERRORS, 404),
)
async def list_therapists(
    caller: SignedInCaller, query: TherapistListQueryDep, page_request: PageRequestDep
) -> Page[TherapistRead]:
    """List the therapists (staff with the therapist role), to anyone signed in."""
    therapists = TherapistService(caller.work)

    async def fetch(offset: int, limit: int) -> list[TherapistRead]:
        rows = await therapists.page(query, offset=offset, limit=limit)
        return [TherapistRead.model_validate(row) for row in rows]

    return await paginate(
        caller.links,
        page_request,
        TherapistRead,
        count=lambda exact_up_to: therapists.count(query, exact_up_to=exact_up_to),
        fetch=fetch,
    )


@router.get(
    "/{therapist_id}/",
    name=Action.GET_THERAPIST,
    response_model=TherapistRead,
    summary="Read a therapist",
    response_description="The therapist.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def get_therapist(therapist_id: TherapistIdPath, caller: SignedInCaller) -> TherapistRead:
    """Read one therapist, to anyone signed in."""
    therapist = await TherapistService(caller.work).get(therapist_id)
    return TherapistRead.model_validate(therapist)


@router.patch(
    "/{therapist_id}/",
    name=Action.UPDATE_THERAPIST,
    response_model=TherapistRead,
    summary="Change a therapist",
    response_description="The therapist as changed.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404),
)
async def update_therapist(
    therapist_id: TherapistIdPath,
    caller: StaffCaller,
    payload: Annotated[TherapistUpdate, Body()] = TherapistUpdate(),
) -> TherapistRead:
    """Change the name patients and calendars show (admins, or the therapist themself) and the
    NPI a superbill names (admins only: 403 for anyone else; null clears it)."""
    therapists = TherapistService(caller.work)
    actor = await caller.principal()
    changes = payload.model_dump(include={"display_name", "npi"}, exclude_unset=True)
    therapist = await therapists.update(actor, therapist_id, changes)
    return TherapistRead.model_validate(therapist)


@router.get(
    "/{therapist_id}/hours/",
    name=Action.GET_THERAPIST_HOURS,
    response_model=HoursRead,
    summary="Read a therapist's weekly hours",
    response_description="The weekly hours, in the clinic's time zone.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def get_therapist_hours(
    therapist_id: TherapistIdPath, caller: StaffCaller, settings: SettingsDep
) -> HoursRead:
    """The therapist's weekly working hours, by weekday and start, on the clinic's clock."""
    week = await TherapistService(caller.work).stretches(therapist_id)
    return HoursRead.of(settings.clinic_zone, week)


@router.put(
    "/{therapist_id}/hours/",
    name=Action.REPLACE_THERAPIST_HOURS,
    response_model=HoursRead,
    summary="Replace a therapist's weekly hours",
    response_description="The weekly hours as now set.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404),
)
async def replace_therapist_hours(
    therapist_id: TherapistIdPath, payload: HoursUpdate, caller: StaffCaller, settings: SettingsDep
) -> HoursRead:
    """Replace the whole week (admins, or the therapist themself); a weekday left out is a day
    off. Appointments already booked are kept."""
    therapists = TherapistService(caller.work)
    actor = await caller.principal()
    week = await therapists.replace_stretches(actor, therapist_id, payload.week())
    return HoursRead.of(settings.clinic_zone, week)


@router.get(
    "/{therapist_id}/time_off/",
    name=Action.LIST_THERAPIST_TIME_OFF,
    response_model=Page[TimeOffRead],
    summary="List a therapist's time off",
    response_description="A page of the therapist's time off, by start.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def list_therapist_time_off(
    therapist_id: TherapistIdPath,
    caller: StaffCaller,
    page_request: PageRequestDep,
    settings: SettingsDep,
) -> Page[TimeOffRead]:
    """The therapist's time off, earliest first, in the clinic's time zone."""
    therapists, zone = TherapistService(caller.work), settings.clinic_zone

    async def fetch(offset: int, limit: int) -> list[TimeOffRead]:
        rows = await therapists.time_off(therapist_id, offset=offset, limit=limit)
        return [TimeOffRead.of(row, zone) for row in rows]

    return await paginate(
        caller.links,
        page_request,
        TimeOffRead,
        count=lambda exact_up_to: therapists.count_time_off(therapist_id, exact_up_to=exact_up_to),
        fetch=fetch,
    )


@router.post(
    "/{therapist_id}/time_off/",
    name=Action.CREATE_THERAPIST_TIME_OFF,
    response_model=TimeOffRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add time off",
    response_description="The time off added.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 422),
)
async def create_therapist_time_off(
    therapist_id: TherapistIdPath,
    payload: TimeOffCreate,
    caller: StaffCaller,
    settings: SettingsDep,
    _: Idempotent,
) -> TimeOffRead:
    """Add a stretch of time off, [start, end) (admins, or the therapist themself): no free
    slots are offered in it. Appointments already booked in it are kept. A retry with the same
    Idempotency-Key gets the first answer again."""
    therapists = TherapistService(caller.work)
    actor = await caller.principal()
    time_off = await therapists.add_time_off(actor, therapist_id, payload)
    return TimeOffRead.of(time_off, settings.clinic_zone)


@router.delete(
    "/{therapist_id}/time_off/{time_off_id}/",
    name=Action.DELETE_THERAPIST_TIME_OFF,
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove time off",
    response_description="Removed; no body.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def delete_therapist_time_off(
    therapist_id: TherapistIdPath, time_off_id: TimeOffIdPath, caller: StaffCaller
) -> None:
    """Remove a stretch of time off (admins, or the therapist themself)."""
    therapists = TherapistService(caller.work)
    actor = await caller.principal()
    await therapists.remove_time_off(actor, therapist_id, time_off_id)


@router.get(
    "/{therapist_id}/availability/",
    name=Action.GET_THERAPIST_AVAILABILITY,
    response_model=AvailabilityRead,
    summary="List a therapist's free slots",
    response_description="The free start times in the window, in the clinic's time zone.",
    responses=errors(400, *COMMON_ERRORS, 404),
)
async def get_therapist_availability(
    therapist_id: TherapistIdPath,
    caller: SignedInCaller,
    query: AvailabilityQueryDep,
    settings: SettingsDep,
) -> AvailabilityRead:
    """The slots of `duration` minutes a booking could take, to anyone signed in: the weekly
    hours, less time off, less every active appointment widened by APPOINTMENT_BUFFER_MINUTES on
    both sides; each starting on the clinic's clock at a multiple of `step` minutes, never
    before now. A window is at most 31 days; an inactive therapist has no free slots."""
    zone = settings.clinic_zone
    found = await TherapistService(caller.work).availability(
        therapist_id, query, zone=zone, buffer_minutes=settings.appointment_buffer_minutes
    )
    return AvailabilityRead.of(found.therapist_id, zone, found.duration, found.slots)

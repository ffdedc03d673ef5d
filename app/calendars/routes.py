from fastapi import APIRouter, Response, status

from app.audit.actions import Action
from app.auth.access import StaffCaller
from app.calendars.dependencies import FeedWorkDep, SecretPath
from app.calendars.schemas import CalendarFeedRead
from app.calendars.service import CalendarService, feed_path
from app.core.dependencies import SettingsDep
from app.core.openapi import COMMON_ERRORS, errors
from app.requests.routing import AuditedRoute
from app.therapists.dependencies import TherapistIdPath

router = APIRouter(tags=["calendars"], route_class=AuditedRoute)
ICS_MEDIA_TYPE = "text/calendar; charset=utf-8"
ICS_EXAMPLE = (
    "BEGIN:VCALENDAR\r\nPRODID:-//TherapyConnect//Calendar feed//EN\r\nVERSION:2.0\r\n"
    "CALSCALE:GREGORIAN\r\nX-WR-CALNAME:TherapyConnect: Dr. Rivera\r\nBEGIN:VEVENT\r\n"
    "SUMMARY:Video appointment: p_a1b2c3\r\nDTSTART:20260330T070000Z\r\n"
    "DTEND:20260330T075000Z\r\nDTSTAMP:20260301T120000Z\r\n"
    "UID:appointment-123@therapyconnect\r\nSEQUENCE:4711\r\nSTATUS:CONFIRMED\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


@router.post(
    "/api/therapists/{therapist_id}/calendar/",
    name=Action.CREATE_CALENDAR_FEED,
    response_model=CalendarFeedRead,
    status_code=status.HTTP_201_CREATED,
    summary="Make a new calendar feed URL",
    response_description="The feed's secret URL; the one before it no longer works.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def create_calendar_feed(
    therapist_id: TherapistIdPath, caller: StaffCaller, settings: SettingsDep
) -> CalendarFeedRead:
    """A secret iCalendar URL of the therapist's appointments, for their calendar app (admins,
    or the therapist themself). It replaces the therapist's earlier feed URL, which stops
    working; the URL is shown only now."""
    actor = await caller.principal()
    secret = await CalendarService(caller.work, settings).create(actor, therapist_id)
    return CalendarFeedRead(url=caller.links.to(feed_path(secret)))


@router.delete(
    "/api/therapists/{therapist_id}/calendar/",
    name=Action.DELETE_CALENDAR_FEED,
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke the calendar feed",
    response_description="The feed URL no longer works (or there was none); no body.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def delete_calendar_feed(
    therapist_id: TherapistIdPath, caller: StaffCaller, settings: SettingsDep
) -> None:
    """Revoke the therapist's calendar feed URL (admins, or the therapist themself)."""
    actor = await caller.principal()
    await CalendarService(caller.work, settings).revoke(actor, therapist_id)


@router.get(
    "/api/calendars/{secret}.ics",
    name=Action.GET_CALENDAR_FEED,
    response_class=Response,
    summary="Read a calendar feed",
    response_description="An iCalendar document: the therapist's appointments from 30 days ago "
    "to 365 days ahead.",
    responses={
        **errors(404, 429, 503),
        200: {"content": {"text/calendar": {"schema": {"type": "string"}, "example": ICS_EXAMPLE}}},
    },
    openapi_extra={"security": []},
)
async def get_calendar_feed(
    secret: SecretPath, work: FeedWorkDep, settings: SettingsDep
) -> Response:
    """The therapist's appointments as iCalendar (no token: the secret in the URL is the key;
    an unknown or revoked one is a 404). Times in UTC; patients by id unless
    CALENDAR_FEED_PATIENT_NAMES; no notes."""
    content = await CalendarService(work, settings).feed(secret)
    return Response(
        content, media_type=ICS_MEDIA_TYPE, headers={"Cache-Control": "private, no-store"}
    )

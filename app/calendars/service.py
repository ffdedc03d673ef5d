"""Therapists' calendar feeds: made and revoked by the therapist (or an admin), read by a
calendar app that knows the secret URL and nothing else.

The secret is 32 random bytes, shown once in the feed's URL and kept only as its SHA-256: a
copy of the database lets nobody read a feed. Patients are named in the feed by their id unless
CALENDAR_FEED_PATIENT_NAMES allows their names; notes never appear.
"""

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from app.auth.permissions import Principal, may_manage_therapist
from app.calendars.repository import CalendarRepository
from app.calendars.schemas import EventRow
from app.core.config import Settings
from app.core.errors import NotFound, PermissionDenied
from app.core.fields import one_line
from app.requests.work import UnitOfWork
from app.therapists.repository import TherapistRepository

PAST = timedelta(days=30)
AHEAD = timedelta(days=365)
SECRET_BYTES = 32
PRODID = "-//TherapyConnect//Calendar feed//EN"
SUMMARIES = {"in_person": "Appointment (in person)", "video": "Video appointment"}
# FHIR's Appointment.status as iCalendar's VEVENT STATUS.
ICAL_STATUS = {
    "proposed": "TENTATIVE",
    "booked": "CONFIRMED",
    "arrived": "CONFIRMED",
    "checked-in": "CONFIRMED",
    "fulfilled": "CONFIRMED",
    "noshow": "CONFIRMED",
    "cancelled": "CANCELLED",
    "entered-in-error": "CANCELLED",
}


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def feed_path(secret: str) -> str:
    return f"api/calendars/{secret}.ics"


class CalendarService:
    def __init__(self, work: UnitOfWork, settings: Settings) -> None:
        self.work = work
        self.settings = settings
        self.feeds = CalendarRepository(work)
        self.therapists = TherapistRepository(work)

    async def create(self, actor: Principal, therapist_id: int) -> str:
        """A new secret for the therapist's feed (the old one stops working): the secret."""
        await self._may_manage(actor, therapist_id)
        secret = secrets.token_urlsafe(SECRET_BYTES)
        await self.work.completed_by(self.feeds.replace(therapist_id, digest(secret)))
        return secret

    async def revoke(self, actor: Principal, therapist_id: int) -> None:
        """The therapist's feed stops working (also when there was none)."""
        await self._may_manage(actor, therapist_id)
        await self.work.completed_by(self.feeds.revoke(therapist_id))

    async def feed(self, secret: str) -> bytes:
        """The feed of this secret as an iCalendar document; NotFound when it is unknown or
        revoked."""
        feed = await self.feeds.feed(digest(secret))
        if feed is None:
            raise NotFound
        therapist_id = feed["therapist_id"]
        self.work.act_as(f"calendar_feed:{therapist_id}", "calendar_feed")
        now = datetime.now(UTC)
        named = self.settings.calendar_feed_patient_names
        rows = await self.work.completed_by(
            self.feeds.appointments(therapist_id, now - PAST, now + AHEAD, named=named)
        )
        return calendar(feed["therapist"], rows)

    async def _may_manage(self, actor: Principal, therapist_id: int) -> None:
        if not may_manage_therapist(actor, therapist_id):
            raise PermissionDenied
        if await self.therapists.get(therapist_id) is None:
            raise NotFound


def calendar(therapist: str, appointments: list[EventRow]) -> bytes:
    """The feed; names go in as one line each, whatever a row written before the single-line
    rule holds (icalendar refuses a line break in a property)."""
    document = Calendar()
    document.add("prodid", PRODID)
    document.add("version", "2.0")
    document.add("calscale", "GREGORIAN")
    document.add("x-wr-calname", f"TherapyConnect: {one_line(therapist)}")
    for row in appointments:
        event = Event()
        event.add("uid", f"appointment-{row['id']}@therapyconnect")
        event.add("dtstamp", row["updated_at"].astimezone(UTC))
        event.add("dtstart", row["starts_at"].astimezone(UTC))
        event.add("dtend", row["ends_at"].astimezone(UTC))
        what = SUMMARIES.get(row["kind"], "Appointment")
        event.add("summary", f"{what}: {one_line(row['patient'])}")
        event.add("status", ICAL_STATUS.get(row["status"], "CONFIRMED"))
        event.add("sequence", row["version"])
        document.add_component(event)
    content: bytes = document.to_ical()
    return content

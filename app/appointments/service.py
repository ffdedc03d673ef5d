"""Every appointment read and write, with its rules: who may book and change what, the
therapist's availability, the legal changes of status, and what a change brings with it in
the same transaction (the session in the patient's record and its invoice, a fee's invoice,
the reminders' outbox row)."""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.appointments.repository import AppointmentRepository, Overlap
from app.appointments.schemas import (
    MAX_MINUTES,
    MIN_MINUTES,
    MOVABLE,
    TRANSITIONS,
    AppointmentCancel,
    AppointmentCreate,
    AppointmentListQuery,
    AppointmentRow,
    AppointmentUpdate,
    SeriesCancel,
    SeriesCreate,
    SeriesRow,
)
from app.appointments.series import clashing, occurrences
from app.audit.actions import OVERRIDING_AVAILABILITY
from app.auth.permissions import (
    Principal,
    listed_patient,
    may_access_patient,
    may_cancel_late,
    may_change_appointment,
    may_handle_appointments_of,
    may_override_availability,
    may_waive_fees,
)
from app.core.conditional import Versions
from app.core.config import Settings
from app.core.errors import (
    NON_FIELD_ERRORS,
    Conflict,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationFailed,
)
from app.db.counting import Count
from app.invoices.service import InvoiceService
from app.patients.repository import PatientRepository
from app.patients.schemas import SessionRead
from app.patients.versions import Change
from app.requests.work import UnitOfWork
from app.therapists.hours import Period, covers, working_periods
from app.therapists.repository import TherapistRepository

STALE = "The appointment has changed since you read it: If-Match does not match its current ETag."
OUTSIDE_HOURS = "The therapist does not work at that time (their weekly hours)."
TIME_OFF = "The therapist is on time off at that time."
NO_THERAPIST = "No active therapist has this id."
NO_PATIENT = "No patient has this id."
NO_SERVICE = "No billable service has this id."
NOT_AFTER = "The end must be after the start."
LENGTH = f"An appointment lasts {MIN_MINUTES} to {MAX_MINUTES} minutes."
NOT_MOVABLE = "Only a proposed or booked appointment can be moved."


class AppointmentConflict(Conflict):
    """409: an active appointment of the same therapist or patient holds some of the time."""

    def __init__(self, who: str, conflicting: int | None) -> None:
        which = f"appointment {conflicting}" if conflicting is not None else "an appointment"
        super().__init__(f"The {who} already has {which} at that time.")
        self.conflicting = conflicting

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "conflicting_appointment": self.conflicting}


class SeriesConflict(Conflict):
    """409: some occurrences of a series cannot be booked (and none was)."""

    def __init__(self, conflicts: list[dict[str, Any]]) -> None:
        super().__init__(
            f"{len(conflicts)} of the series' occurrences cannot be booked; nothing was booked. "
            "Send skip_conflicts=true to book the others."
        )
        self.conflicts = conflicts

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "conflicts": self.conflicts}


def hours_text(hours: float) -> str:
    return f"{int(hours)}" if float(hours).is_integer() else f"{hours:g}"


def notice_rule(settings: Settings) -> str:
    hours = hours_text(settings.cancellation_notice_hours)
    return (
        f"Appointments can be cancelled up to {hours} hours before they start; call the practice."
    )


def transition_rule(current: str, new: str) -> str:
    allowed = sorted(TRANSITIONS[current])
    then = ", ".join(allowed) if allowed else f"nothing: {current} is final"
    return f"An appointment that is {current} cannot become {new}; it can become {then}."


def service_rule(status: str) -> str:
    return f"The service of an appointment that is {status} cannot change."


def check_times(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ValidationFailed.on("end", NOT_AFTER)
    if not timedelta(minutes=MIN_MINUTES) <= end - start <= timedelta(minutes=MAX_MINUTES):
        raise ValidationFailed.on("end", LENGTH)


@dataclass
class Booking:
    """What a new appointment (or each occurrence of a series) is checked for."""

    patient_id: str
    therapist_id: int

    def row(
        self,
        payload: AppointmentCreate,
        start: datetime,
        end: datetime,
        *,
        outside: bool,
        actor: Principal,
        series_id: int | None = None,
    ) -> dict[str, Any]:
        """The appointment's columns as inserted."""
        return {
            "patient_id": self.patient_id,
            "therapist_id": self.therapist_id,
            "starts_at": start,
            "ends_at": end,
            "kind": payload.kind,
            "status": payload.status,
            "note": payload.note,
            "series_id": series_id,
            "service_id": payload.service,
            "outside_availability": outside,
            "created_by": actor.name,
        }


class AppointmentService:
    """Runs in a unit of work: reads audit at its end; writes run in one transaction."""

    def __init__(self, work: UnitOfWork, settings: Settings) -> None:
        self.work = work
        self.settings = settings
        self.zone = settings.clinic_zone
        self.appointments = AppointmentRepository(work)
        self.therapists = TherapistRepository(work)
        self.patients = PatientRepository(work)
        self.invoices = InvoiceService(work, settings)

    # Reads.

    async def get(self, appointment_id: int, actor: Principal) -> AppointmentRow:
        appointment = await self.appointments.get(appointment_id)
        if appointment is None:
            raise NotFound
        self._may_see(appointment["patient_id"], actor)
        return appointment

    def _list_patient(self, query: AppointmentListQuery, actor: Principal) -> str | None:
        self.work.entry.patient_id = query.patient if actor.is_staff else actor.id
        return listed_patient(actor, query.patient)

    # Writes.

    async def create(self, payload: AppointmentCreate, actor: Principal) -> AppointmentRow:
        booking = self._booking(payload, actor)
        check_times(payload.start, payload.end)
        await self.work.begin()
        await self._check_parties(booking)
        start, end = payload.start.astimezone(UTC), payload.end.astimezone(UTC)
        # Availability is read under the locks: time off or hours committed while this booking
        # waited for them would otherwise not be seen, and it would be booked inside them.
        await self._lock_parties(booking, payload.service)
        outside = await self._availability(booking.therapist_id, start, end)
        if outside and not payload.override_availability:
            raise ValidationFailed.on("start", outside)
        values = booking.row(payload, start, end, outside=bool(outside), actor=actor)
        await self._refuse_overlap(booking, start, end)
        try:
            appointment = await self.appointments.insert(values)
        except Overlap as overlap:
            raise AppointmentConflict(overlap.who, overlap.conflicting) from None
        if appointment["status"] == "booked":
            await self._plan_reminder(appointment)
        return appointment

    async def update(
        self,
        appointment_id: int,
        payload: AppointmentUpdate,
        actor: Principal,
        *,
        versions: Versions = None,
    ) -> AppointmentRow:
        sent = payload.model_fields_set
        if payload.override_availability and not may_override_availability(actor):
            raise PermissionDenied
        await self.work.begin()
        service = payload.service if "service" in sent else None
        current, named = await self._for_change(appointment_id, actor, versions, service=service)
        values: dict[str, Any] = {}
        start = (payload.start or current["starts_at"]).astimezone(UTC)
        end = (payload.end or current["ends_at"]).astimezone(UTC)
        moved = start != current["starts_at"] or end != current["ends_at"]
        if moved:
            if current["status"] not in MOVABLE:
                raise ValidationFailed.on("start", NOT_MOVABLE)
            check_times(start, end)
            outside = await self._availability(current["therapist_id"], start, end)
            if outside and not payload.override_availability:
                raise ValidationFailed.on("start", outside)
            values.update(starts_at=start, ends_at=end, outside_availability=bool(outside))
        if "kind" in sent and payload.kind is not None:
            values["kind"] = payload.kind
        if "note" in sent:
            values["note"] = payload.note
        if "cancellation_reason" in sent:
            values["cancellation_reason"] = payload.cancellation_reason
        if "service" in sent and payload.service != current["service_id"]:
            # A final appointment keeps the service it was billed (or not billed) for.
            if not TRANSITIONS[current["status"]]:
                raise ValidationFailed.on("service", service_rule(current["status"]))
            if not named:
                raise ValidationFailed.on("service", NO_SERVICE)
            values["service_id"] = payload.service
        status = current["status"]
        if payload.status is not None and payload.status != current["status"]:
            status = payload.status
            if status not in TRANSITIONS[current["status"]]:
                raise ValidationFailed.on("status", transition_rule(current["status"], status))
            values["status"] = status
        if not values:
            return current
        try:
            appointment = await self.appointments.update(current, values)
        except Overlap as overlap:
            raise AppointmentConflict(overlap.who, overlap.conflicting) from None
        await self._after_change(current, appointment, actor, waive_fee=False)
        return appointment

    async def cancel(
        self,
        appointment_id: int,
        payload: AppointmentCancel,
        actor: Principal,
        *,
        versions: Versions = None,
    ) -> AppointmentRow:
        if payload.waive_fee and not may_waive_fees(actor):
            raise PermissionDenied
        await self.work.begin()
        current, _ = await self._for_change(appointment_id, actor, versions, cancelling=True)
        if "cancelled" not in TRANSITIONS[current["status"]]:
            raise ValidationFailed.on("status", transition_rule(current["status"], "cancelled"))
        if not may_cancel_late(actor) and self._late(current):
            raise ValidationFailed.on(NON_FIELD_ERRORS, notice_rule(self.settings))
        values = {"status": "cancelled", "cancellation_reason": payload.reason}
        appointment = await self.appointments.update(current, values)
        await self._after_change(current, appointment, actor, waive_fee=payload.waive_fee)
        return appointment

    # Series.

    async def create_series(
        self, payload: SeriesCreate, actor: Principal
    ) -> tuple[SeriesRow, list[AppointmentRow], list[dict[str, Any]]]:
        booking = self._booking(payload, actor)
        check_times(payload.start, payload.end)
        found = occurrences(payload.rrule, payload.start, payload.end, self.zone)
        await self.work.begin()
        await self._lock_parties(booking, payload.service)
        await self._check_parties(booking)
        series = await self.appointments.insert_series(
            payload.rrule, booking.patient_id, booking.therapist_id, payload.service, actor.name
        )
        stretches = await self.therapists.stretches(booking.therapist_id)
        time_off = await self.therapists.time_off_between(
            booking.therapist_id, found[0][0], max(end for _, end in found)
        )
        clashes = clashing(found)
        booked: list[AppointmentRow] = []
        conflicts: list[dict[str, Any]] = []
        for index, (start, end) in enumerate(found):
            conflict = {"start": start.astimezone(self.zone), "end": end.astimezone(self.zone)}
            outside = self._outside(stretches, time_off, start, end)
            if outside and not payload.override_availability:
                conflicts.append(
                    {**conflict, "reason": "unavailable", "conflicting_appointment": None}
                )
                continue
            if index in clashes:
                conflicts.append({**conflict, "reason": "overlap", "conflicting_appointment": None})
                continue
            values = booking.row(
                payload, start, end, outside=bool(outside), actor=actor, series_id=series["id"]
            )
            try:
                appointment = await self.appointments.insert(values)
            except Overlap as overlap:
                conflicts.append(
                    {
                        **conflict,
                        "reason": "overlap",
                        "conflicting_appointment": overlap.conflicting,
                    }
                )
                continue
            if appointment["status"] == "booked":
                await self._plan_reminder(appointment)
            booked.append(appointment)
        if conflicts and (not payload.skip_conflicts or not booked):
            raise SeriesConflict([_rendered(conflict) for conflict in conflicts])
        return series, booked, conflicts

    async def get_series(
        self, series_id: int, actor: Principal
    ) -> tuple[SeriesRow, list[AppointmentRow]]:
        series = await self.appointments.get_series(series_id)
        if series is None:
            raise NotFound
        self._may_see(series["patient_id"], actor)
        return series, await self.appointments.series_appointments(series_id)

    async def cancel_series(
        self, series_id: int, payload: SeriesCancel, actor: Principal
    ) -> tuple[SeriesRow, list[AppointmentRow]]:
        await self.work.begin()
        series = await self.appointments.get_series(series_id)
        if series is None:
            raise NotFound
        self.work.entry.patient_id = series["patient_id"]
        self._may_change(series["therapist_id"], actor)
        await self.appointments.lock_parties(series["therapist_id"], series["patient_id"])
        start = (payload.from_ or datetime.now(UTC)).astimezone(UTC)
        await self.appointments.cancel_series(series_id, start, payload.reason)
        return series, await self.appointments.series_appointments(series_id)

    # Rules.

    def _booking(self, payload: AppointmentCreate, actor: Principal) -> Booking:
        """Who the booking is for, if the caller may make it."""
        patient_id = payload.patient
        if patient_id is None and not actor.is_staff:
            patient_id = actor.id
        if patient_id is None:
            raise ValidationFailed.on("patient", "This field is required.")
        if not may_access_patient(actor, patient_id):
            raise PermissionDenied
        self.work.entry.patient_id = patient_id
        if not may_handle_appointments_of(actor, payload.therapist):
            raise PermissionDenied
        if payload.override_availability:
            if not may_override_availability(actor):
                raise PermissionDenied
            entry = self.work.entry
            entry.action = OVERRIDING_AVAILABILITY[entry.action]  # the audit trail says so
        return Booking(patient_id=patient_id, therapist_id=payload.therapist)

    async def _lock_parties(self, booking: Booking, service: int | None) -> None:
        """The parties' scheduling locks, and the service checked in the same statement."""
        if not await self.appointments.lock_parties(
            booking.therapist_id, booking.patient_id, service=service
        ):
            raise ValidationFailed.on("service", NO_SERVICE)

    async def _check_parties(self, booking: Booking) -> None:
        errors: dict[str, list[str]] = {}
        therapist = await self.therapists.get(booking.therapist_id)
        if therapist is None or not therapist["is_active"]:
            errors["therapist"] = [NO_THERAPIST]
        if not await self.patients.exists(booking.patient_id):
            errors["patient"] = [NO_PATIENT]
        if errors:
            raise ValidationFailed(errors)

    async def _refuse_overlap(self, booking: Booking, start: datetime, end: datetime) -> None:
        """The 409 of a booking whose time is taken, read rather than tried: under the parties'
        scheduling locks no other write can change the answer, and a refusal then costs no
        insert to roll back while the next booking of theirs waits."""
        for who, value in (("therapist", booking.therapist_id), ("patient", booking.patient_id)):
            conflicting = await self.appointments.overlapping(who, value, start, end)
            if conflicting is not None:
                raise AppointmentConflict(who, conflicting)

    async def _availability(self, therapist_id: int, start: datetime, end: datetime) -> str | None:
        """Why the therapist is not available for all of [start, end); None when they are."""
        stretches = await self.therapists.stretches(therapist_id)
        time_off = await self.therapists.time_off_between(therapist_id, start, end)
        return self._outside(stretches, time_off, start, end)

    def _outside(
        self, stretches: Any, time_off: list[Period], start: datetime, end: datetime
    ) -> str | None:
        if not covers(working_periods(stretches, self.zone, start, end), start, end):
            return OUTSIDE_HOURS
        if any(begins < end and start < ends for begins, ends in time_off):
            return TIME_OFF
        return None

    def _may_see(self, patient_id: str, actor: Principal) -> None:
        self.work.entry.patient_id = patient_id
        if not may_access_patient(actor, patient_id):
            raise PermissionDenied

    def _may_change(self, therapist_id: int, actor: Principal) -> None:
        if not may_handle_appointments_of(actor, therapist_id):
            raise PermissionDenied

    async def _for_change(
        self,
        appointment_id: int,
        actor: Principal,
        versions: Versions,
        *,
        cancelling: bool = False,
        service: int | None = None,
    ) -> tuple[AppointmentRow, bool]:
        """The appointment, locked, if the caller may change it (a patient: only cancel). Its
        therapist's and patient's scheduling locks first, as every write of appointments takes
        them (its therapist and patient never change); with them, whether `service` names a
        billable service that is not deleted (True when none is given)."""
        found = await self.appointments.get(appointment_id)
        if found is None:
            raise NotFound
        self._may_see(found["patient_id"], actor)
        if not may_change_appointment(actor, cancelling=cancelling):
            raise PermissionDenied
        self._may_change(found["therapist_id"], actor)
        named = await self.appointments.lock_parties(
            found["therapist_id"], found["patient_id"], service=service
        )
        current = await self.appointments.get(appointment_id, for_update=True)
        if current is None:
            raise NotFound
        if versions is not None and current["version"] not in versions:
            raise PreconditionFailed(STALE)
        return current, named

    def _late(self, appointment: AppointmentRow) -> bool:
        notice = timedelta(hours=self.settings.cancellation_notice_hours)
        starts_at = appointment["starts_at"]
        return starts_at - datetime.now(UTC) < notice

    async def _after_change(
        self, before: AppointmentRow, after: AppointmentRow, actor: Principal, *, waive_fee: bool
    ) -> None:
        """What a change brings with it, in its transaction."""
        status = after["status"]
        if status != before["status"]:
            if status == "fulfilled":
                await self._record_session(after)
                await self.invoices.bill_session(
                    appointment_id=after["id"],
                    patient_id=after["patient_id"],
                    service_id=after["service_id"],
                    therapist_id=after["therapist_id"],
                    day=self._day(after),
                    actor=actor,
                )
            elif status == "noshow":
                await self._charge(after, "noshow_fee", self.settings.noshow_fee, actor)
            elif (
                status == "cancelled"
                and may_cancel_late(actor)
                and not waive_fee
                and self._late(before)
            ):
                fee = self.settings.late_cancellation_fee
                await self._charge(after, "late_cancellation_fee", fee, actor)
        if status == "booked" and (
            before["status"] != "booked" or before["starts_at"] != after["starts_at"]
        ):
            await self._plan_reminder(after)

    async def _plan_reminder(self, appointment: AppointmentRow) -> None:
        starts_at = appointment["starts_at"]
        due = starts_at - timedelta(minutes=self.settings.reminder_lead_minutes)
        await self.appointments.plan_reminder(appointment["id"], starts_at, due)

    async def _record_session(self, appointment: AppointmentRow) -> None:
        """The fulfilled appointment as a session of the patient's history."""
        therapist = await self.appointments.staff_name(appointment["therapist_id"])
        length = appointment["ends_at"] - appointment["starts_at"]
        session = SessionRead(
            id=str(uuid.uuid4()),
            date=appointment["starts_at"],
            duration_minutes=int(length.total_seconds() // 60),
            therapist=therapist,
            notes=None,
            created_at=datetime.now(UTC),
            appointment=appointment["id"],
        )
        await self.patients.add_session(
            appointment["patient_id"], session.model_dump(mode="json"), await Change.by(self.work)
        )

    def _day(self, appointment: AppointmentRow) -> date:
        return appointment["starts_at"].astimezone(self.zone).date()

    async def _charge(
        self, appointment: AppointmentRow, kind: str, fee: Decimal, actor: Principal
    ) -> None:
        """Issue the fee as an invoice of its own, owed by the patient."""
        await self.invoices.bill_fee(
            appointment_id=appointment["id"],
            patient_id=appointment["patient_id"],
            kind=kind,
            fee=fee,
            day=self._day(appointment),
            therapist_id=appointment["therapist_id"],
            actor=actor,
        )

    # The list (last: its name would hide the built-in list in the annotations above).

    async def count(
        self, query: AppointmentListQuery, actor: Principal, *, exact_up_to: int | None
    ) -> Count:
        patient = self._list_patient(query, actor)
        return await self.appointments.count(query, patient, exact_up_to=exact_up_to)

    async def list(
        self, query: AppointmentListQuery, actor: Principal, *, offset: int, limit: int
    ) -> list[AppointmentRow]:
        patient = self._list_patient(query, actor)
        return await self.appointments.list(query, patient, offset=offset, limit=limit)


def _rendered(conflict: dict[str, Any]) -> dict[str, Any]:
    return {
        **conflict,
        "start": conflict["start"].isoformat(),
        "end": conflict["end"].isoformat(),
    }

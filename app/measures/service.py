"""Measures: instruments assigned to patients, answered by them (or administered in session by
a therapist), scored by the service; a response that meets a safety rule raises an alert in
its own transaction, with the notice that tells the treating therapist (the worker mails it,
and escalates to every admin what nobody acknowledges)."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from app.auth.permissions import (
    Principal,
    alerts_scope,
    may_access_patient,
    may_acknowledge_alert,
    may_read_measures,
)
from app.core.config import Settings
from app.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from app.db.counting import Count
from app.measures.alerts import raise_alert
from app.measures.instruments import Instrument, instruments
from app.measures.repository import MeasureRepository
from app.measures.schemas import (
    AlertRow,
    AssignmentCreate,
    AssignmentRow,
    MeasureRead,
    RequestRow,
    ResponseRow,
    TrendPoint,
    TrendRead,
)
from app.measures.scoring import score, trend
from app.patients.repository import PatientRepository
from app.requests.work import UnitOfWork

UNKNOWN_INSTRUMENT = "No instrument has this id (GET /api/instruments/)."


def instrument(instrument_id: str, field: str = "instrument") -> Instrument:
    found = instruments().get(instrument_id)
    if found is None:
        raise ValidationFailed.on(field, UNKNOWN_INSTRUMENT)
    return found


def measure_answer(row: ResponseRow) -> MeasureRead:
    return MeasureRead(
        id=row["id"],
        patient=row["patient_id"],
        instrument=row["instrument"],
        request=row["request_id"],
        total=row["total"],
        band=row["band"],
        answers=json.loads(row["answers"]),
        administered_by=row["administered_by"],
        created_at=row["created_at"],
    )


def rule_message(alert: AlertRow) -> str:
    """The alert's rule, as its instrument says it (the rule's id when it is gone)."""
    for found in instruments().values():
        for rule in found.safety_rules:
            if rule.id == alert["rule"]:
                return rule.message
    return alert["rule"]


def _trend(found: Instrument, rows: list[ResponseRow]) -> TrendRead:
    figures = trend(found, [row["total"] for row in rows])
    return TrendRead(
        instrument=found.id,
        points=[
            TrendPoint(id=row["id"], at=row["created_at"], total=row["total"], band=row["band"])
            for row in rows
        ],
        first=None if figures is None else figures.first,
        latest=None if figures is None else figures.latest,
        change=None if figures is None else figures.change,
        response=figures is not None and figures.response,
        remission=figures is not None and bool(figures.remission),
    )


class MeasureService:
    def __init__(self, work: UnitOfWork, settings: Settings) -> None:
        self.work = work
        self.settings = settings
        self.measures = MeasureRepository(work)

    # Assignments and requests (staff; the patient reads their requests).

    async def assign(
        self, patient_id: str, payload: AssignmentCreate, actor: Principal
    ) -> AssignmentRow:
        self.work.entry.patient_id = patient_id
        found = instrument(payload.instrument)
        therapist = payload.therapist
        if therapist is None and actor.role == "therapist":
            therapist = int(actor.id)
        await self.work.begin()
        assignment = await self.measures.assign(
            patient_id=patient_id,
            instrument=found.id,
            schedule=payload.schedule,
            every=payload.every,
            lead_minutes=payload.lead_minutes,
            expires_after_minutes=payload.expires_after_minutes,
            therapist_id=therapist,
            created_by=actor.name,
        )
        if assignment is None:
            raise NotFound
        if assignment["schedule"] == "once":
            now = datetime.now(UTC)
            expires = now + timedelta(minutes=assignment["expires_after_minutes"])
            await self.measures.request_now(assignment, now, expires)
        return assignment

    async def assignments(self, patient_id: str, *, offset: int, limit: int) -> list[AssignmentRow]:
        return await self.measures.assignments(patient_id, offset=offset, limit=limit)

    async def count_assignments(self, patient_id: str, *, exact_up_to: int | None) -> Count:
        return await self.measures.count_assignments(patient_id, exact_up_to=exact_up_to)

    async def end(self, patient_id: str, assignment_id: int) -> None:
        await self.work.begin()
        if not await self.measures.end(patient_id, assignment_id):
            raise NotFound

    async def requests(self, patient_id: str, *, offset: int, limit: int) -> list[RequestRow]:
        return await self.measures.requests(patient_id, offset=offset, limit=limit)

    async def count_requests(self, patient_id: str, *, exact_up_to: int | None) -> Count:
        return await self.measures.count_requests(patient_id, exact_up_to=exact_up_to)

    # Responses.

    async def answer(
        self, request_id: int, answers: dict[str, int], actor: Principal
    ) -> ResponseRow:
        """The patient answers their own open request: once (409 after), before it expires
        (400 after), every item (400 naming each missing or out of range)."""
        await self.work.begin()
        request = await self.measures.lock_request(request_id)
        if request is None:
            raise NotFound
        self.work.entry.patient_id = request["patient_id"]
        if actor.is_staff or actor.id != request["patient_id"]:
            raise PermissionDenied("Only the patient answers their own request.")
        if request["status"] == "answered":
            raise Conflict("This request has been answered already.")
        now = datetime.now(UTC)
        if request["status"] in ("expired", "cancelled") or request["expires_at"] <= now:
            raise ValidationFailed.on(
                "non_field_errors", "This request has expired; it can no longer be answered."
            )
        found = instrument(request["instrument"], "non_field_errors")
        response = await self._record(request["patient_id"], found, answers, request=request)
        await self.measures.answered(request_id)
        return response

    async def administer(
        self, patient_id: str, instrument_id: str, answers: dict[str, int], actor: Principal
    ) -> ResponseRow:
        """A therapist administers an instrument in session, on the patient's behalf."""
        self.work.entry.patient_id = patient_id
        found = instrument(instrument_id)
        await self.work.begin()
        await self._readable(patient_id, actor)
        return await self._record(patient_id, found, answers, administered_by=actor)

    async def measure(self, patient_id: str, measure_id: int, actor: Principal) -> ResponseRow:
        await self._readable(patient_id, actor)
        row = await self.measures.response(patient_id, measure_id)
        if row is None:
            raise NotFound
        return row

    async def trend(self, patient_id: str, instrument_id: str, actor: Principal) -> TrendRead:
        found = instrument(instrument_id)
        await self._readable(patient_id, actor)
        return _trend(found, await self.measures.trend(patient_id, found.id))

    async def trends(self, patient_id: str, actor: Principal) -> list[tuple[Instrument, TrendRead]]:
        """The patient's trend on each instrument they have answered (the admin's charts), with
        the rules of `trend`."""
        await self._readable(patient_id, actor)
        found = []
        for each in instruments().values():
            rows = await self.measures.trend(patient_id, each.id)
            if rows:
                found.append((each, _trend(each, rows)))
        return found

    # Alerts.

    def alert_filters(
        self, status: str | None, patient: str | None, actor: Principal
    ) -> dict[str, Any]:
        if not actor.is_staff:
            raise PermissionDenied
        if patient is not None:
            self.work.entry.patient_id = patient
        return {"status": status, "patient": patient, "scope": alerts_scope(actor)}

    async def alerts(self, filters: dict[str, Any], *, offset: int, limit: int) -> list[AlertRow]:
        return await self.measures.alerts(filters, offset=offset, limit=limit)

    async def count_alerts(self, filters: dict[str, Any], *, exact_up_to: int | None) -> Count:
        return await self.measures.count_alerts(filters, exact_up_to=exact_up_to)

    async def acknowledge(self, alert_id: int, note: str, actor: Principal) -> AlertRow:
        await self.work.begin()
        alert = await self.measures.lock_alert(alert_id)
        if alert is None:
            raise NotFound
        self.work.entry.patient_id = alert["patient_id"]
        treats = actor.role == "therapist" and (
            alert["therapist_id"] == int(actor.id)
            or await self.measures.treats(int(actor.id), alert["patient_id"])
        )
        if not may_acknowledge_alert(actor, treats=treats):
            raise PermissionDenied
        acknowledged = await self.measures.acknowledge(alert_id, actor.name, note)
        if acknowledged is None:
            raise Conflict("This alert has been acknowledged already.")
        return acknowledged

    # Helpers.

    async def _readable(self, patient_id: str, actor: Principal) -> None:
        """The patient is there (else 404), and the caller may read their responses."""
        self.work.entry.patient_id = patient_id
        if not await PatientRepository(self.work).exists(patient_id):
            raise NotFound
        if not actor.is_staff:
            if not may_access_patient(actor, patient_id):
                raise PermissionDenied
            return
        treats = actor.role == "therapist" and await self.measures.treats(int(actor.id), patient_id)
        if not may_read_measures(actor, treats=treats):
            raise PermissionDenied

    async def _record(
        self,
        patient_id: str,
        found: Instrument,
        answers: dict[str, int],
        *,
        request: RequestRow | None = None,
        administered_by: Principal | None = None,
    ) -> ResponseRow:
        """Score and store the response; each safety rule it meets raises an alert in this
        transaction, with the notice to the treating therapist."""
        scored = score(found, answers)
        response = await self.measures.respond(
            request_id=None if request is None else request["id"],
            patient_id=patient_id,
            instrument=found.id,
            answers=json.dumps(answers, sort_keys=True),
            total=scored.total,
            band=scored.band.label,
            administered_by_id=None if administered_by is None else int(administered_by.id),
            administered_by=None if administered_by is None else administered_by.name,
        )
        if scored.rules_met:
            therapist = await self.measures.treating(
                patient_id, None if request is None else request["id"]
            )
            if therapist is None and administered_by and administered_by.role == "therapist":
                therapist = int(administered_by.id)
            for rule in scored.rules_met:
                await raise_alert(
                    self.work,
                    response_id=response["id"],
                    patient_id=patient_id,
                    rule=rule.id,
                    therapist_id=therapist,
                    escalate_minutes=self.settings.safety_alert_escalate_minutes,
                )
        return response

"""The measures' SQL: assignments, requests, responses and safety alerts (with the notice that
tells the treating therapist, written in the response's transaction)."""

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP

from app.db.counting import Count, Counting
from app.db.query import Executor, NoRow, Query
from app.db.repository import columns_of
from app.measures.schemas import (
    AlertRow,
    AssignmentRow,
    IdRow,
    RequestRow,
    ResponseRow,
    TherapistRow,
    TreatsRow,
)
from app.models.measures import (
    AlertNotice,
    MeasureAssignment,
    MeasureRequest,
    MeasureResponse,
    SafetyAlert,
)
from app.models.patient import kept
from app.models.scheduling import Appointment

ASSIGNMENTS = cast(Table, MeasureAssignment.__table__)
REQUESTS = cast(Table, MeasureRequest.__table__)
RESPONSES = cast(Table, MeasureResponse.__table__)
ALERTS = cast(Table, SafetyAlert.__table__)
NOTICES = cast(Table, AlertNotice.__table__)
_ID = bindparam("id", type_=BigInteger)
_PATIENT = bindparam("patient_id", type_=String)
_NOW = bindparam("now", type_=TIMESTAMP(timezone=True))


_ASSIGNMENT = columns_of(ASSIGNMENTS, AssignmentRow)
_REQUEST = columns_of(REQUESTS, RequestRow)
_RESPONSE = columns_of(RESPONSES, ResponseRow)
_ALERT = columns_of(ALERTS, AlertRow)

_INSERT_ASSIGNMENT = Query(
    insert(ASSIGNMENTS)
    .from_select(
        [
            "patient_id",
            "instrument",
            "schedule",
            "every",
            "lead_minutes",
            "expires_after_minutes",
            "therapist_id",
            "created_by",
        ],
        select(
            _PATIENT,
            bindparam("instrument", type_=String),
            bindparam("schedule", type_=String),
            bindparam("every", type_=Integer),
            bindparam("lead_minutes", type_=Integer),
            bindparam("expires_after_minutes", type_=Integer),
            bindparam("therapist_id", type_=Integer),
            bindparam("created_by", type_=String),
        ).where(kept(_PATIENT)),
    )
    .returning(*_ASSIGNMENT),
    AssignmentRow,
)
_ASSIGNMENTS = Query(
    select(*_ASSIGNMENT)
    .where(MeasureAssignment.patient_id == _PATIENT, kept(MeasureAssignment.patient_id))
    .order_by(MeasureAssignment.id.desc())
    .offset(bindparam("offset"))
    .limit(bindparam("limit")),
    AssignmentRow,
)
_ASSIGNMENTS_COUNT = Counting(
    select(MeasureAssignment.id).where(
        MeasureAssignment.patient_id == _PATIENT, kept(MeasureAssignment.patient_id)
    )
)
_END_ASSIGNMENT = Query(
    update(ASSIGNMENTS)
    .where(
        MeasureAssignment.id == _ID,
        MeasureAssignment.patient_id == _PATIENT,
        MeasureAssignment.ended_at.is_(None),
    )
    .values(ended_at=func.now())
    .returning(MeasureAssignment.id),
    IdRow,
)
_CANCEL_SCHEDULED = Query(
    update(REQUESTS)
    .where(
        MeasureRequest.assignment_id == bindparam("assignment_id", type_=BigInteger),
        MeasureRequest.status == "scheduled",
    )
    .values(status="cancelled"),
    NoRow,
)
_INSERT_REQUEST = Query(
    insert(REQUESTS)
    .values(
        assignment_id=bindparam("assignment_id", type_=BigInteger),
        patient_id=_PATIENT,
        instrument=bindparam("instrument", type_=String),
        due_at=_NOW,
        expires_at=bindparam("expires_at", type_=TIMESTAMP(timezone=True)),
    )
    .returning(*_REQUEST),
    RequestRow,
)
_REQUESTS = Query(
    select(*_REQUEST)
    .where(MeasureRequest.patient_id == _PATIENT, kept(MeasureRequest.patient_id))
    .order_by(MeasureRequest.due_at.desc(), MeasureRequest.id.desc())
    .offset(bindparam("offset"))
    .limit(bindparam("limit")),
    RequestRow,
)
_REQUESTS_COUNT = Counting(
    select(MeasureRequest.id).where(
        MeasureRequest.patient_id == _PATIENT, kept(MeasureRequest.patient_id)
    )
)
_LOCK_REQUEST = Query(
    select(*_REQUEST).where(MeasureRequest.id == _ID).with_for_update(), RequestRow
)
_ANSWERED = Query(update(REQUESTS).where(MeasureRequest.id == _ID).values(status="answered"), NoRow)
_INSERT_RESPONSE = Query(
    insert(RESPONSES)
    .values(
        request_id=bindparam("request_id", type_=BigInteger),
        patient_id=_PATIENT,
        instrument=bindparam("instrument", type_=String),
        answers=bindparam("answers", type_=MeasureResponse.answers.type),
        total=bindparam("total", type_=Integer),
        band=bindparam("band", type_=String),
        administered_by_id=bindparam("administered_by_id", type_=Integer),
        administered_by=bindparam("administered_by", type_=String),
    )
    .returning(*_RESPONSE),
    ResponseRow,
)
_RESPONSE_BY_ID = Query(
    select(*_RESPONSE).where(
        MeasureResponse.id == _ID,
        MeasureResponse.patient_id == _PATIENT,
        kept(MeasureResponse.patient_id),
    ),
    ResponseRow,
)
_TREND = Query(
    select(*_RESPONSE)
    .where(
        MeasureResponse.patient_id == _PATIENT,
        MeasureResponse.instrument == bindparam("instrument", type_=String),
        kept(MeasureResponse.patient_id),
    )
    .order_by(MeasureResponse.created_at, MeasureResponse.id),
    ResponseRow,
)
_therapist = bindparam("therapist_id", type_=Integer)
# A therapist treats a patient they have an appointment with, or are named on an assignment of.
_TREATS = Query(
    select(
        or_(
            exists().where(
                Appointment.patient_id == _PATIENT, Appointment.therapist_id == _therapist
            ),
            exists().where(
                MeasureAssignment.patient_id == _PATIENT,
                MeasureAssignment.therapist_id == _therapist,
            ),
        ).label("treats")
    ),
    TreatsRow,
)
# The treating therapist of a response: the assignment's, else the latest appointment's.
_TREATING = Query(
    select(
        func.coalesce(
            select(MeasureAssignment.therapist_id)
            .join(MeasureRequest, MeasureRequest.assignment_id == MeasureAssignment.id)
            .where(MeasureRequest.id == bindparam("request_id", type_=BigInteger))
            .scalar_subquery(),
            select(Appointment.therapist_id)
            .where(Appointment.patient_id == _PATIENT)
            .order_by(Appointment.starts_at.desc())
            .limit(1)
            .scalar_subquery(),
        ).label("therapist_id")
    ),
    TherapistRow,
)
_status = bindparam("status", type_=String)
_alert_patient = bindparam("patient", type_=String)
_scope = bindparam("scope", type_=Integer)  # a therapist sees their own patients' alerts
_ALERT_FILTERS = and_(
    or_(_status.is_(None), SafetyAlert.status == _status),
    or_(_alert_patient.is_(None), SafetyAlert.patient_id == _alert_patient),
    or_(
        _scope.is_(None),
        SafetyAlert.therapist_id == _scope,
        exists().where(
            Appointment.patient_id == SafetyAlert.patient_id, Appointment.therapist_id == _scope
        ),
    ),
    kept(SafetyAlert.patient_id),
)
_ALERTS = Query(
    select(*_ALERT)
    .where(_ALERT_FILTERS)
    .order_by(SafetyAlert.created_at.desc(), SafetyAlert.id.desc())
    .offset(bindparam("offset"))
    .limit(bindparam("limit")),
    AlertRow,
)
_ALERTS_COUNT = Counting(select(SafetyAlert.id).where(_ALERT_FILTERS))
_LOCK_ALERT = Query(select(*_ALERT).where(SafetyAlert.id == _ID).with_for_update(), AlertRow)
_ACKNOWLEDGE = Query(
    update(ALERTS)
    .where(SafetyAlert.id == _ID, SafetyAlert.status == "open")
    .values(
        status="acknowledged",
        acknowledged_by=bindparam("by", type_=String),
        acknowledged_at=func.now(),
        note=bindparam("note", type_=SafetyAlert.note.type),
    )
    .returning(*_ALERT),
    AlertRow,
)


class MeasureRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    # Assignments and requests.

    async def assign(self, **values: Any) -> AssignmentRow | None:
        """The assignment made; None when the patient is not there (or deleted)."""
        return await self.executor.fetch_one(_INSERT_ASSIGNMENT, **values)

    async def assignments(self, patient_id: str, *, offset: int, limit: int) -> list[AssignmentRow]:
        return await self.executor.fetch(
            _ASSIGNMENTS, patient_id=patient_id, offset=offset, limit=limit
        )

    async def count_assignments(self, patient_id: str, *, exact_up_to: int | None) -> Count:
        return await _ASSIGNMENTS_COUNT.count(
            self.executor, {"patient_id": patient_id}, exact_up_to=exact_up_to
        )

    async def end(self, patient_id: str, assignment_id: int) -> bool:
        """End an assignment and cancel its requests not yet sent."""
        ended = await self.executor.fetch_one(
            _END_ASSIGNMENT, id=assignment_id, patient_id=patient_id
        )
        if ended is None:
            return False
        await self.executor.fetch(_CANCEL_SCHEDULED, assignment_id=assignment_id)
        return True

    async def request_now(
        self, assignment: AssignmentRow, now: datetime, expires_at: datetime
    ) -> RequestRow:
        row = await self.executor.fetch_one(
            _INSERT_REQUEST,
            assignment_id=assignment["id"],
            patient_id=assignment["patient_id"],
            instrument=assignment["instrument"],
            now=now,
            expires_at=expires_at,
        )
        assert row is not None
        return row

    async def requests(self, patient_id: str, *, offset: int, limit: int) -> list[RequestRow]:
        return await self.executor.fetch(
            _REQUESTS, patient_id=patient_id, offset=offset, limit=limit
        )

    async def count_requests(self, patient_id: str, *, exact_up_to: int | None) -> Count:
        return await _REQUESTS_COUNT.count(
            self.executor, {"patient_id": patient_id}, exact_up_to=exact_up_to
        )

    async def lock_request(self, request_id: int) -> RequestRow | None:
        return await self.executor.fetch_one(_LOCK_REQUEST, id=request_id)

    async def answered(self, request_id: int) -> None:
        await self.executor.fetch(_ANSWERED, id=request_id)

    # Responses.

    async def respond(self, **values: Any) -> ResponseRow:
        row = await self.executor.fetch_one(_INSERT_RESPONSE, **values)
        assert row is not None
        return row

    async def response(self, patient_id: str, response_id: int) -> ResponseRow | None:
        return await self.executor.fetch_one(_RESPONSE_BY_ID, id=response_id, patient_id=patient_id)

    async def trend(self, patient_id: str, instrument: str) -> list[ResponseRow]:
        return await self.executor.fetch(_TREND, patient_id=patient_id, instrument=instrument)

    async def treats(self, therapist_id: int, patient_id: str) -> bool:
        row = await self.executor.fetch_one(
            _TREATS, therapist_id=therapist_id, patient_id=patient_id
        )
        return row is not None and row["treats"]

    async def treating(self, patient_id: str, request_id: int | None) -> int | None:
        row = await self.executor.fetch_one(_TREATING, patient_id=patient_id, request_id=request_id)
        return None if row is None else row["therapist_id"]

    # Safety alerts.

    async def alerts(self, filters: dict[str, Any], *, offset: int, limit: int) -> list[AlertRow]:
        return await self.executor.fetch(_ALERTS, **filters, offset=offset, limit=limit)

    async def count_alerts(self, filters: dict[str, Any], *, exact_up_to: int | None) -> Count:
        return await _ALERTS_COUNT.count(self.executor, filters, exact_up_to=exact_up_to)

    async def lock_alert(self, alert_id: int) -> AlertRow | None:
        return await self.executor.fetch_one(_LOCK_ALERT, id=alert_id)

    async def acknowledge(self, alert_id: int, by: str, note: str) -> AlertRow | None:
        return await self.executor.fetch_one(_ACKNOWLEDGE, id=alert_id, by=by, note=note)

from typing import Annotated

from fastapi import APIRouter, Body, status

from app.audit.actions import Action
from app.auth.access import SignedInCaller, StaffCaller, StaffOrSelfCaller
from app.auth.dependencies import Caller
from app.core.dependencies import PageRequestDep
from app.core.openapi import BODY_ERRORS, COMMON_ERRORS, errors
from app.core.pagination import Page, paginate
from app.db.counting import Count
from app.idempotency.dependencies import Idempotent
from app.measures.dependencies import (
    AlertIdPath,
    AlertQueryDep,
    AssignmentIdPath,
    MeasureIdPath,
    RequestIdPath,
    TrendQueryDep,
)
from app.measures.fhir import MeasureResponse, observation, questionnaire_response
from app.measures.instruments import Instrument, instruments
from app.measures.schemas import (
    AlertAcknowledge,
    AlertRead,
    AssignmentCreate,
    AssignmentRead,
    FhirBundle,
    InSessionCreate,
    InstrumentRead,
    MeasureRead,
    RequestRead,
    ResponseCreate,
    TrendRead,
)
from app.measures.service import MeasureService, instrument, measure_answer, rule_message
from app.patients.dependencies import PatientIdPath
from app.requests.routing import AuditedRoute

router = APIRouter(tags=["measures"], route_class=AuditedRoute)
PATIENT = "/api/patients/{patient_id}"


def _service(caller: Caller) -> MeasureService:
    return MeasureService(caller.work, caller.request.app.state.settings)


def _instrument(found: Instrument) -> InstrumentRead:
    return InstrumentRead.model_validate(
        {
            **found.model_dump(include={"id", "name", "title", "version", "lookback"}),
            "items": [
                {
                    **item.model_dump(include={"link_id", "number", "text", "required", "scored"}),
                    "options": [
                        o.model_dump(include={"value", "text"}) for o in found.options_of(item)
                    ],
                }
                for item in found.items
            ],
            "bands": [band.model_dump(include={"label", "min", "max"}) for band in found.bands],
            "remission_below": found.scoring.remission_below,
        }
    )


@router.get(
    "/api/instruments/",
    name=Action.LIST_INSTRUMENTS,
    response_model=Page[InstrumentRead],
    summary="List instruments",
    response_description="A page of the instruments the service scores.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def list_instruments(
    caller: SignedInCaller, page_request: PageRequestDep
) -> Page[InstrumentRead]:
    """The questionnaires the service ships (PHQ-9, GAD-7, and any added as a data file), with
    their items, answers and severity bands (anyone signed in)."""
    everything = [_instrument(found) for found in instruments().values()]

    async def count(_: int | None) -> Count:
        return Count(len(everything), exact=True)

    async def fetch(offset: int, limit: int) -> list[InstrumentRead]:
        return everything[offset : offset + limit]

    return await paginate(caller.links, page_request, InstrumentRead, count=count, fetch=fetch)


@router.post(
    PATIENT + "/measure-assignments/",
    name=Action.CREATE_MEASURE_ASSIGNMENT,
    response_model=AssignmentRead,
    status_code=status.HTTP_201_CREATED,
    summary="Assign an instrument",
    response_description="The assignment made.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 422),
)
async def create_measure_assignment(
    patient_id: PatientIdPath, payload: AssignmentCreate, caller: StaffCaller, _: Idempotent
) -> AssignmentRead:
    """Assign an instrument to a patient (staff): `once` makes a request due now; `before_each`
    and `every_nth` make one before each (or each Nth) appointment, `lead_minutes` ahead,
    mailed by the worker."""
    assignment = await _service(caller).assign(patient_id, payload, await caller.principal())
    return AssignmentRead.of(assignment)


@router.get(
    PATIENT + "/measure-assignments/",
    name=Action.LIST_MEASURE_ASSIGNMENTS,
    response_model=Page[AssignmentRead],
    summary="List a patient's assignments",
    response_description="A page of the patient's assignments, newest first.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def list_measure_assignments(
    patient_id: PatientIdPath, caller: StaffCaller, page_request: PageRequestDep
) -> Page[AssignmentRead]:
    """The instruments assigned to the patient (staff), ended ones included."""
    service = _service(caller)
    caller.work.entry.patient_id = patient_id

    async def fetch(offset: int, limit: int) -> list[AssignmentRead]:
        rows = await service.assignments(patient_id, offset=offset, limit=limit)
        return [AssignmentRead.of(row) for row in rows]

    return await paginate(
        caller.links,
        page_request,
        AssignmentRead,
        count=lambda up_to: service.count_assignments(patient_id, exact_up_to=up_to),
        fetch=fetch,
    )


@router.delete(
    PATIENT + "/measure-assignments/{assignment_id}/",
    name=Action.END_MEASURE_ASSIGNMENT,
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End an assignment",
    response_description="Ended: its requests not yet sent are cancelled; no body.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def end_measure_assignment(
    patient_id: PatientIdPath, assignment_id: AssignmentIdPath, caller: StaffCaller
) -> None:
    """End an assignment (staff); its answered responses are kept."""
    caller.work.entry.patient_id = patient_id
    await _service(caller).end(patient_id, assignment_id)


@router.get(
    PATIENT + "/measure-requests/",
    name=Action.LIST_MEASURE_REQUESTS,
    response_model=Page[RequestRead],
    summary="List a patient's requests",
    response_description="A page of the patient's requests, latest due first.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def list_measure_requests(
    patient_id: PatientIdPath, caller: StaffOrSelfCaller, page_request: PageRequestDep
) -> Page[RequestRead]:
    """The requests to answer an instrument (staff, and the patient their own): what to
    answer, by when."""
    service = _service(caller)
    caller.work.entry.patient_id = patient_id

    async def fetch(offset: int, limit: int) -> list[RequestRead]:
        rows = await service.requests(patient_id, offset=offset, limit=limit)
        return [RequestRead.of(row) for row in rows]

    return await paginate(
        caller.links,
        page_request,
        RequestRead,
        count=lambda up_to: service.count_requests(patient_id, exact_up_to=up_to),
        fetch=fetch,
    )


@router.post(
    "/api/measure-requests/{request_id}/response/",
    name=Action.ANSWER_MEASURE_REQUEST,
    response_model=MeasureRead,
    status_code=status.HTTP_201_CREATED,
    summary="Answer a request",
    response_description="The response, scored.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409),
)
async def answer_measure_request(
    request_id: RequestIdPath, payload: ResponseCreate, caller: SignedInCaller
) -> MeasureRead:
    """The patient answers their own open request, signed in. Every scored item is required:
    a missing or out-of-range one is a 400 naming it; a second answer is a 409; an expired
    request a 400. The service scores it; a safety rule met (PHQ-9 item 9 above 0) raises an
    alert for the treating therapist in the same transaction."""
    response = await _service(caller).answer(request_id, payload.answers, await caller.principal())
    return measure_answer(response)


@router.post(
    PATIENT + "/measures/",
    name=Action.ADMINISTER_MEASURE,
    response_model=MeasureRead,
    status_code=status.HTTP_201_CREATED,
    summary="Administer an instrument in session",
    response_description="The response, scored, recorded as administered by the caller.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 422),
)
async def administer_measure(
    patient_id: PatientIdPath, payload: InSessionCreate, caller: StaffCaller, _: Idempotent
) -> MeasureRead:
    """A therapist (treating the patient) or an admin records an instrument answered in
    session on the patient's behalf; scored and alerted as the patient's own."""
    response = await _service(caller).administer(
        patient_id, payload.instrument, payload.answers, await caller.principal()
    )
    return measure_answer(response)


@router.get(
    PATIENT + "/measures/",
    name=Action.GET_MEASURE_TREND,
    response_model=TrendRead,
    summary="Read a patient's scores over time",
    response_description="The scores on one instrument, oldest first, and the change.",
    responses=errors(400, *COMMON_ERRORS, 404),
)
async def get_measure_trend(
    patient_id: PatientIdPath, caller: SignedInCaller, query: TrendQueryDep
) -> TrendRead:
    """The patient's totals on `instrument` over time, the change since the first, response
    (a drop of at least 50%) and remission (below 5 on PHQ-9 and GAD-7): the patient their
    own, their treating therapists, admins."""
    return await _service(caller).trend(patient_id, query.instrument, await caller.principal())


@router.get(
    PATIENT + "/measures/{measure_id}/",
    name=Action.GET_MEASURE,
    response_model=MeasureRead,
    summary="Read a response",
    response_description="The response with its answers.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def get_measure(
    patient_id: PatientIdPath, measure_id: MeasureIdPath, caller: SignedInCaller
) -> MeasureRead:
    """One response (the patient their own, their treating therapists, admins)."""
    row = await _service(caller).measure(patient_id, measure_id, await caller.principal())
    return measure_answer(row)


@router.get(
    PATIENT + "/measures/{measure_id}/fhir/",
    name=Action.GET_MEASURE_FHIR,
    response_model=FhirBundle,
    summary="Read a response as FHIR R4",
    response_description="A Bundle of the QuestionnaireResponse and its Observation.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def get_measure_fhir(
    patient_id: PatientIdPath, measure_id: MeasureIdPath, caller: SignedInCaller
) -> FhirBundle:
    """The response as a FHIR R4 QuestionnaireResponse (answers with `ordinalValue`) and its
    total as an Observation (LOINC 44261-6 for PHQ-9, 70274-6 for GAD-7), as readable as the
    response itself."""
    row = await _service(caller).measure(patient_id, measure_id, await caller.principal())
    found = instrument(row["instrument"], "non_field_errors")
    answer = measure_answer(row)
    resource = MeasureResponse(
        id=row["id"],
        patient_id=row["patient_id"],
        instrument_id=found.id,
        answers=answer.answers,
        authored=row["created_at"],
        administered_by=row["administered_by_id"],
        total=row["total"],
        band=row["band"],
    )
    base = caller.request.app.state.settings.base_url
    return FhirBundle(
        entry=[
            {"resource": questionnaire_response(found, resource, base_url=base)},
            {"resource": observation(found, resource, base_url=base)},
        ]
    )


@router.get(
    "/api/alerts/",
    name=Action.LIST_ALERTS,
    response_model=Page[AlertRead],
    summary="List safety alerts",
    response_description="A page of alerts, newest first.",
    responses=errors(400, *COMMON_ERRORS, 404),
)
async def list_alerts(
    caller: StaffCaller, query: AlertQueryDep, page_request: PageRequestDep
) -> Page[AlertRead]:
    """Safety alerts, open ones by default: a therapist sees their patients', admins all."""
    service = _service(caller)
    filters = service.alert_filters(query.status, query.patient, await caller.principal())

    async def fetch(offset: int, limit: int) -> list[AlertRead]:
        rows = await service.alerts(filters, offset=offset, limit=limit)
        return [AlertRead.of(row, rule_message(row)) for row in rows]

    return await paginate(
        caller.links,
        page_request,
        AlertRead,
        count=lambda up_to: service.count_alerts(filters, exact_up_to=up_to),
        fetch=fetch,
    )


@router.post(
    "/api/alerts/{alert_id}/acknowledge/",
    name=Action.ACKNOWLEDGE_ALERT,
    response_model=AlertRead,
    summary="Acknowledge a safety alert",
    response_description="The alert, acknowledged.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409),
)
async def acknowledge_alert(
    alert_id: AlertIdPath,
    caller: StaffCaller,
    payload: Annotated[AlertAcknowledge, Body()],
) -> AlertRead:
    """Acknowledge an open alert with a note of what was done (the treating therapist or an
    admin); a second acknowledgement is a 409."""
    alert = await _service(caller).acknowledge(alert_id, payload.note, await caller.principal())
    return AlertRead.of(alert, rule_message(alert))

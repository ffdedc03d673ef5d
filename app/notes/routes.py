"""Progress notes of appointments, and psychotherapy notes: thin endpoints over NoteService,
every one audited (AuditedRoute), refusals included."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response, status

from app.appointments.dependencies import AppointmentIdPath
from app.audit.actions import Action
from app.auth.access import (
    NoteCosignCaller,
    NoteWithholdCaller,
    NoteWriteCaller,
    SignedInCaller,
)
from app.auth.dependencies import Caller
from app.core.conditional import ConditionalDep, tag
from app.core.dependencies import PageRequestDep
from app.core.ids import id_path
from app.core.openapi import BODY_ERRORS, COMMON_ERRORS, errors, tagged
from app.core.pagination import Page, paginate
from app.core.querystring import QueryModel
from app.idempotency.dependencies import Idempotent
from app.notes.schemas import (
    AddendumCreate,
    AddendumRow,
    AuthorizationCreate,
    AuthorizationRead,
    Disclosure,
    DisclosureQuery,
    NoteCreate,
    NoteRead,
    NoteRow,
    NoteUpdate,
    PsychotherapyListQuery,
    PsychotherapyNoteCreate,
    PsychotherapyNoteRead,
    Withholding,
)
from app.notes.service import NoteService
from app.requests.routing import AuditedRoute

ETAG = tagged(resource="note")
ETAG_CREATED = tagged(201, "note")

router = APIRouter(
    prefix="/api/appointments/{appointment_id}/notes",
    tags=["progress notes"],
    route_class=AuditedRoute,
)

NoteIdPath = Annotated[int, id_path("The progress note's id.", 12)]
PsychotherapyIdPath = Annotated[int, id_path("The psychotherapy note's id.", 5)]
AuthorizationIdPath = Annotated[int, id_path("The authorization's id.", 9)]
PsychotherapyQueryDep = Annotated[
    PsychotherapyListQuery, Depends(QueryModel(PsychotherapyListQuery))
]


def _service(caller: Caller) -> NoteService:
    return NoteService(caller.work, caller.request.app.state.settings)


def _answer(
    service: NoteService, found: tuple[NoteRow, list[AddendumRow]], response: Response
) -> NoteRead:
    note, addenda = found
    tag(response, note["version"])
    return NoteRead.of(note, addenda, service.zone)


@router.get(
    "/",
    name=Action.LIST_PROGRESS_NOTES,
    response_model=Page[NoteRead],
    summary="List an appointment's progress notes",
    response_description="A page of the progress notes the caller may read, oldest first.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def list_progress_notes(
    appointment_id: AppointmentIdPath, caller: SignedInCaller, page_request: PageRequestDep
) -> Page[NoteRead]:
    """List the appointment's progress notes: staff see signed notes (drafts: their author
    and admins); its patient sees only signed notes that are not withheld."""
    service = _service(caller)
    visibility = await service.visibility(appointment_id, await caller.principal())

    async def fetch(offset: int, limit: int) -> list[NoteRead]:
        found = await service.list_notes(appointment_id, visibility, offset=offset, limit=limit)
        return [NoteRead.of(note, addenda, service.zone) for note, addenda in found]

    return await paginate(
        caller.links,
        page_request,
        NoteRead,
        count=lambda exact_up_to: service.count_notes(
            appointment_id, visibility, exact_up_to=exact_up_to
        ),
        fetch=fetch,
    )


@router.post(
    "/",
    name=Action.CREATE_PROGRESS_NOTE,
    response_model=NoteRead,
    status_code=status.HTTP_201_CREATED,
    summary="Write a progress note",
    response_description="The draft written; Location is its URL.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 422), **ETAG_CREATED},
)
async def create_progress_note(
    appointment_id: AppointmentIdPath,
    payload: NoteCreate,
    caller: NoteWriteCaller,
    _: Idempotent,
    response: Response,
) -> NoteRead:
    """Write a draft progress note in a template (SOAP, DAP or BIRP); only the appointment's
    therapist may."""
    service = _service(caller)
    note = await service.create(appointment_id, payload, await caller.principal())
    response.headers["Location"] = caller.links.to(
        f"api/appointments/{appointment_id}/notes/{note['id']}/"
    )
    return _answer(service, (note, []), response)


@router.get(
    "/{note_id}/",
    name=Action.GET_PROGRESS_NOTE,
    response_model=NoteRead,
    summary="Read a progress note",
    response_description="The progress note with its addenda.",
    responses={**errors(*COMMON_ERRORS, 404), **ETAG},
)
async def get_progress_note(
    appointment_id: AppointmentIdPath,
    note_id: NoteIdPath,
    caller: SignedInCaller,
    response: Response,
) -> NoteRead:
    """Read one progress note; a patient only a signed one of theirs that is not withheld
    (404 otherwise)."""
    service = _service(caller)
    found = await service.get(appointment_id, note_id, await caller.principal())
    return _answer(service, found, response)


@router.patch(
    "/{note_id}/",
    name=Action.UPDATE_PROGRESS_NOTE,
    response_model=NoteRead,
    summary="Change a draft progress note",
    response_description="The draft as changed.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 412), **ETAG},
)
async def update_progress_note(
    appointment_id: AppointmentIdPath,
    note_id: NoteIdPath,
    caller: NoteWriteCaller,
    cond: ConditionalDep,
    payload: Annotated[NoteUpdate, Body()] = NoteUpdate(),
) -> NoteRead:
    """Change a draft (its author only). A signed note never changes: a 400; correct it
    with an addendum."""
    service = _service(caller)
    actor = await caller.principal()
    found = await service.update(appointment_id, note_id, payload, actor, versions=cond.versions)
    return _answer(service, found, cond.response)


@router.post(
    "/{note_id}/sign/",
    name=Action.SIGN_PROGRESS_NOTE,
    response_model=NoteRead,
    summary="Sign a progress note",
    response_description="The note, signed (by whom, when): it never changes again.",
    responses={**errors(*COMMON_ERRORS, 400, 404, 409, 412, 422), **ETAG},
)
async def sign_progress_note(
    appointment_id: AppointmentIdPath,
    note_id: NoteIdPath,
    caller: NoteWriteCaller,
    cond: ConditionalDep,
    _: Idempotent,
) -> NoteRead:
    """Sign a draft (its author only); from then on it is locked."""
    service = _service(caller)
    actor = await caller.principal()
    found = await service.sign(appointment_id, note_id, actor, versions=cond.versions)
    return _answer(service, found, cond.response)


@router.post(
    "/{note_id}/addenda/",
    name=Action.ADD_PROGRESS_NOTE_ADDENDUM,
    response_model=NoteRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add an addendum to a signed progress note",
    response_description="The note with its addenda, the new one last.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 422), **ETAG_CREATED},
)
async def add_progress_note_addendum(
    appointment_id: AppointmentIdPath,
    note_id: NoteIdPath,
    payload: AddendumCreate,
    caller: NoteWriteCaller,
    _: Idempotent,
    response: Response,
) -> NoteRead:
    """Correct or add to a signed note (its author only): the addendum is signed and
    timestamped now, and never changes."""
    service = _service(caller)
    actor = await caller.principal()
    found = await service.add_addendum(appointment_id, note_id, payload, actor)
    return _answer(service, found, response)


@router.post(
    "/{note_id}/cosign/",
    name=Action.COSIGN_PROGRESS_NOTE,
    response_model=NoteRead,
    summary="Co-sign a signed progress note",
    response_description="The note, co-signed (by whom, when).",
    responses={**errors(*COMMON_ERRORS, 400, 404, 409, 412, 422), **ETAG},
)
async def cosign_progress_note(
    appointment_id: AppointmentIdPath,
    note_id: NoteIdPath,
    caller: NoteCosignCaller,
    cond: ConditionalDep,
    _: Idempotent,
) -> NoteRead:
    """Co-sign a signed note as a supervisor: any staff member (admin or therapist) but its
    author, once."""
    service = _service(caller)
    actor = await caller.principal()
    found = await service.cosign(appointment_id, note_id, actor, versions=cond.versions)
    return _answer(service, found, cond.response)


@router.post(
    "/{note_id}/withhold/",
    name=Action.WITHHOLD_PROGRESS_NOTE,
    response_model=NoteRead,
    summary="Withhold a progress note from the patient, or show it again",
    response_description="The note, withheld (with the reason) or not.",
    responses={
        **errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 412, 422),
        **ETAG,
    },
)
async def withhold_progress_note(
    appointment_id: AppointmentIdPath,
    note_id: NoteIdPath,
    payload: Withholding,
    caller: NoteWithholdCaller,
    cond: ConditionalDep,
    _: Idempotent,
) -> NoteRead:
    """Withhold a note (draft or signed) from the patient with a reason, or show it again:
    its author or an admin. The note's text is untouched."""
    service = _service(caller)
    actor = await caller.principal()
    found = await service.withhold(appointment_id, note_id, payload, actor, versions=cond.versions)
    return _answer(service, found, cond.response)


psychotherapy_router = APIRouter(
    prefix="/api/psychotherapy-notes", tags=["psychotherapy notes"], route_class=AuditedRoute
)


DisclosureQueryDep = Annotated[DisclosureQuery, Depends(QueryModel(DisclosureQuery))]


@psychotherapy_router.get(
    "/",
    name=Action.LIST_PSYCHOTHERAPY_NOTES,
    response_model=Page[PsychotherapyNoteRead],
    summary="List your psychotherapy notes",
    response_description="A page of the caller's own psychotherapy notes, newest first.",
    responses=errors(400, *COMMON_ERRORS, 404),
)
async def list_psychotherapy_notes(
    caller: SignedInCaller, query: PsychotherapyQueryDep, page_request: PageRequestDep
) -> Page[PsychotherapyNoteRead]:
    """List the caller's own psychotherapy notes (therapists only; never anyone else's,
    admins' and patients' requests are a 403), optionally of one patient."""
    service = _service(caller)
    actor = await caller.principal()

    async def fetch(offset: int, limit: int) -> list[PsychotherapyNoteRead]:
        rows = await service.list_psychotherapy_notes(
            query.patient, actor, offset=offset, limit=limit
        )
        return [PsychotherapyNoteRead.of(row, service.zone) for row in rows]

    return await paginate(
        caller.links,
        page_request,
        PsychotherapyNoteRead,
        count=lambda exact_up_to: service.count_psychotherapy_notes(
            query.patient, actor, exact_up_to=exact_up_to
        ),
        fetch=fetch,
    )


@psychotherapy_router.post(
    "/",
    name=Action.CREATE_PSYCHOTHERAPY_NOTE,
    response_model=PsychotherapyNoteRead,
    status_code=status.HTTP_201_CREATED,
    summary="Write a psychotherapy note",
    response_description="The note written; Location is its URL.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 409, 422),
)
async def create_psychotherapy_note(
    payload: PsychotherapyNoteCreate, caller: SignedInCaller, _: Idempotent, response: Response
) -> PsychotherapyNoteRead:
    """Write a psychotherapy note about a patient (therapists only), kept apart from the
    record and readable by its author alone."""
    service = _service(caller)
    note = await service.create_psychotherapy_note(payload, await caller.principal())
    response.headers["Location"] = caller.links.to(f"api/psychotherapy-notes/{note['id']}/")
    return PsychotherapyNoteRead.of(note, service.zone)


@psychotherapy_router.get(
    "/{note_id}/",
    name=Action.GET_PSYCHOTHERAPY_NOTE,
    response_model=PsychotherapyNoteRead,
    summary="Read a psychotherapy note",
    response_description="The note (its author only).",
    responses=errors(*COMMON_ERRORS, 404),
)
async def get_psychotherapy_note(
    note_id: PsychotherapyIdPath, caller: SignedInCaller
) -> PsychotherapyNoteRead:
    """Read one of your psychotherapy notes; anyone but its author (admins included) gets a
    403, audited."""
    service = _service(caller)
    note = await service.get_psychotherapy_note(note_id, await caller.principal())
    return PsychotherapyNoteRead.of(note, service.zone)


@psychotherapy_router.post(
    "/{note_id}/authorizations/",
    name=Action.AUTHORIZE_PSYCHOTHERAPY_NOTE_DISCLOSURE,
    response_model=AuthorizationRead,
    status_code=status.HTTP_201_CREATED,
    summary="Authorize a disclosure of a psychotherapy note",
    response_description="The authorization record (who, to whom, purpose, expiry).",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 422),
)
async def authorize_psychotherapy_note_disclosure(
    note_id: PsychotherapyIdPath,
    payload: AuthorizationCreate,
    caller: SignedInCaller,
    _: Idempotent,
) -> AuthorizationRead:
    """Enter an authorization to disclose the note to one staff member for a purpose until
    it expires (45 CFR 164.508); its author only."""
    service = _service(caller)
    row = await service.authorize_disclosure(note_id, payload, await caller.principal())
    return AuthorizationRead.of(row, service.zone)


@psychotherapy_router.get(
    "/{note_id}/authorizations/",
    name=Action.LIST_PSYCHOTHERAPY_NOTE_AUTHORIZATIONS,
    response_model=Page[AuthorizationRead],
    summary="List a psychotherapy note's disclosure authorizations",
    response_description="A page of the note's authorizations, revoked and expired ones "
    "included, newest first.",
    responses=errors(400, *COMMON_ERRORS, 404),
)
async def list_psychotherapy_note_authorizations(
    note_id: PsychotherapyIdPath, caller: SignedInCaller, page_request: PageRequestDep
) -> Page[AuthorizationRead]:
    """List the authorizations entered for the note; its author only (anyone else, admins
    included, gets a 403, audited)."""
    service = _service(caller)
    await service.check_authorizations_list(note_id, await caller.principal())

    async def fetch(offset: int, limit: int) -> list[AuthorizationRead]:
        rows = await service.list_authorizations(note_id, offset=offset, limit=limit)
        return [AuthorizationRead.of(row, service.zone) for row in rows]

    return await paginate(
        caller.links,
        page_request,
        AuthorizationRead,
        count=lambda exact_up_to: service.count_authorizations(note_id, exact_up_to=exact_up_to),
        fetch=fetch,
    )


@psychotherapy_router.post(
    "/{note_id}/authorizations/{authorization_id}/revoke/",
    name=Action.REVOKE_PSYCHOTHERAPY_NOTE_AUTHORIZATION,
    response_model=AuthorizationRead,
    summary="Revoke a disclosure authorization",
    response_description="The authorization, revoked (by whom, when): it discloses nothing "
    "from now on.",
    responses=errors(*COMMON_ERRORS, 400, 404, 409, 422),
)
async def revoke_psychotherapy_note_authorization(
    note_id: PsychotherapyIdPath,
    authorization_id: AuthorizationIdPath,
    caller: SignedInCaller,
    _: Idempotent,
) -> AuthorizationRead:
    """Revoke an authorization of the note (its author only); revoking it again is a 400."""
    service = _service(caller)
    row = await service.revoke_authorization(note_id, authorization_id, await caller.principal())
    return AuthorizationRead.of(row, service.zone)


@psychotherapy_router.get(
    "/{note_id}/disclosure/",
    name=Action.DISCLOSE_PSYCHOTHERAPY_NOTE,
    response_model=Disclosure,
    summary="Read a psychotherapy note under an authorization",
    response_description="The note and the authorization it is disclosed under.",
    responses=errors(400, *COMMON_ERRORS, 404),
)
async def disclose_psychotherapy_note(
    note_id: PsychotherapyIdPath, caller: SignedInCaller, query: DisclosureQueryDep
) -> Disclosure:
    """Read the note as the recipient of `authorization`, an unexpired authorization of it
    naming the caller; without one anyone (admins included) gets a 403, audited."""
    service = _service(caller)
    note, authorization = await service.disclose(
        note_id, query.authorization, await caller.principal()
    )
    return Disclosure(
        note=PsychotherapyNoteRead.of(note, service.zone),
        authorization=AuthorizationRead.of(authorization, service.zone),
    )

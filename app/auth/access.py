"""The role matrix applied to an endpoint: its caller parameter, `caller: StaffCaller`.

Each alias is the endpoint's one dependency for its caller, and the first of its parameters
that is a dependency: the caller's token, their rate, whether the role matrix lets them use the
endpoint, and only then the request's body (its media type and JSON syntax), in DRF's order. A
dependency costs a request about 20 µs of FastAPI's own work, a third of a read by id, so
services and links are made from the caller rather than injected beside it.
"""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from app.auth.dependencies import SCHEME_NAME, TOKEN_URL, Caller, token_caller
from app.auth.permissions import (
    DECIDED_BY_ROLE,
    Access,
    forbidden_fields,
    may_access_patient,
    may_use,
    may_use_as,
)
from app.auth.record import Act, access
from app.auth.repository import AccountRepository
from app.core.errors import NotAuthenticated, NotFound, PermissionDenied
from app.core.ids import parse_id
from app.core.routing import check_body, parse_json
from app.models.patient import is_patient_id
from app.requests.routing import caller_dependency


@caller_dependency
class Allowed(OAuth2PasswordBearer):
    """The OAuth2 password flow's bearer token (the OpenAPI document's security scheme, which
    the docs' Authorize button uses) and the caller it names, if `access` lets them use the
    endpoint: 403 otherwise, and for a patient asking about another patient (404 when that
    patient does not exist). With `own_fields`, a patient's body may name only the fields a
    patient may change (403). Refusals are audited, as the work's failures are."""

    def __init__(self, rule: Access | Act, *, own_fields: bool = False) -> None:
        super().__init__(tokenUrl=TOKEN_URL, scheme_name=SCHEME_NAME, auto_error=False)
        self.access = access(rule) if isinstance(rule, Act) else rule
        self.own_fields = own_fields

    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]
        token = await super().__call__(request)
        if not token:
            raise NotAuthenticated
        caller = await token_caller(request, token)
        if self.access in DECIDED_BY_ROLE:
            allowed = may_use(await caller.principal(), self.access)
        else:
            allowed = may_use_as(caller, self.access)
        if not allowed:
            await _refused_on_appointment(request, caller)
            raise PermissionDenied
        patient_id = request.path_params.get("patient_id")
        if patient_id is not None and not may_access_patient(caller, patient_id):
            if not is_patient_id(patient_id):
                raise NotFound
            if not await AccountRepository(caller.work).patient_exists(patient_id):
                raise NotFound
            raise PermissionDenied
        await check_body(request)
        if self.own_fields and forbidden_fields(caller, await _sent(request)):
            raise PermissionDenied
        return caller


async def _refused_on_appointment(request: Request, caller: Caller) -> None:
    """A refusal on an appointment's record (its notes) is audited under its patient, as the
    service's own refusals are: the path names the appointment, not the patient."""
    named = request.path_params.get("appointment_id")
    appointment_id = parse_id(named) if isinstance(named, str) else None
    if appointment_id is not None:
        found = await AccountRepository(caller.work).appointment_patient(appointment_id)
        caller.work.entry.patient_id = found


async def _sent(request: Request) -> set[str]:
    """The fields a JSON body names (check_body has refused one that does not parse)."""
    sent = parse_json(await request.body() or b"{}")
    return set(sent) if isinstance(sent, dict) else set()


StaffCaller = Annotated[Caller, Depends(Allowed(Access.STAFF))]
AdminCaller = Annotated[Caller, Depends(Allowed(Access.ADMIN))]
StaffOrSelfCaller = Annotated[Caller, Depends(Allowed(Access.STAFF_OR_SELF))]
AdminOrSelfCaller = Annotated[Caller, Depends(Allowed(Access.ADMIN_OR_SELF))]
SignedInCaller = Annotated[Caller, Depends(Allowed(Access.SIGNED_IN))]
# PATCH of a patient: a patient changes only their own contact fields.
StaffOrSelfFieldsCaller = Annotated[Caller, Depends(Allowed(Access.STAFF_OR_SELF, own_fields=True))]
# The clinical record's endpoints: the coarse check of their row of app.auth.record's table.
DocumentListCaller = Annotated[Caller, Depends(Allowed(Act.DOCUMENTS_LIST))]
DocumentUploadCaller = Annotated[Caller, Depends(Allowed(Act.DOCUMENTS_UPLOAD))]
DocumentReadCaller = Annotated[Caller, Depends(Allowed(Act.DOCUMENTS_READ))]
DocumentChangeCaller = Annotated[Caller, Depends(Allowed(Act.DOCUMENTS_CHANGE))]
DocumentDeleteCaller = Annotated[Caller, Depends(Allowed(Act.DOCUMENTS_DELETE))]
NoteWriteCaller = Annotated[Caller, Depends(Allowed(Act.NOTES_WRITE))]
NoteCosignCaller = Annotated[Caller, Depends(Allowed(Act.NOTES_COSIGN))]
NoteWithholdCaller = Annotated[Caller, Depends(Allowed(Act.NOTES_WITHHOLD))]
HistoryReadCaller = Annotated[Caller, Depends(Allowed(Act.HISTORY_READ))]
HistoryRestoreCaller = Annotated[Caller, Depends(Allowed(Act.HISTORY_RESTORE))]
PatientDeleteCaller = Annotated[Caller, Depends(Allowed(Act.PATIENT_DELETE))]
DeletedRestoreCaller = Annotated[Caller, Depends(Allowed(Act.DELETED_RESTORE))]

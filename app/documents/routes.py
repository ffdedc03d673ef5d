from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Body, File, Form, Response, UploadFile, status

from app.audit.actions import Action
from app.auth.access import (
    DocumentChangeCaller,
    DocumentDeleteCaller,
    DocumentListCaller,
    DocumentReadCaller,
    DocumentUploadCaller,
)
from app.auth.dependencies import Caller
from app.core.conditional import ConditionalDep, tag
from app.core.dependencies import PageRequestDep
from app.core.errors import PayloadTooLarge
from app.core.ids import id_path
from app.core.openapi import BODY_ERRORS, COMMON_ERRORS, errors, tagged
from app.core.pagination import Page, paginate
from app.documents.schemas import Category, DocumentRead, DocumentRow, DocumentUpdate, Title
from app.documents.service import DocumentService, Upload
from app.idempotency.dependencies import Idempotent
from app.patients.dependencies import PatientIdPath
from app.requests.routing import AuditedRoute

ETAG = tagged(resource="document")
ETAG_CREATED = tagged(201, "document")

router = APIRouter(
    prefix="/api/patients/{patient_id}/documents",
    tags=["documents"],
    route_class=AuditedRoute,
)
READ_CHUNK = 1024 * 1024

DocumentIdPath = Annotated[int, id_path("The document's id.", 17)]


def _service(caller: Caller) -> DocumentService:
    state = caller.request.app.state
    return DocumentService(caller.work, state.documents, state.settings, state.picture_decodes)


async def _read_capped(upload: UploadFile, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(row: DocumentRow, response: Response) -> DocumentRead:
    tag(response, row["version"])
    return DocumentRead.of(row)


@router.get(
    "/",
    name=Action.LIST_DOCUMENTS,
    response_model=Page[DocumentRead],
    summary="List a patient's documents",
    response_description="A page of the patient's documents, newest first (a patient's own "
    "list leaves out withheld ones).",
    responses=errors(400, *COMMON_ERRORS, 404),
)
async def list_documents(
    patient_id: PatientIdPath, caller: DocumentListCaller, page_request: PageRequestDep
) -> Page[DocumentRead]:
    """List the patient's documents' metadata, newest first."""
    service = _service(caller)
    actor = await caller.principal()
    if caller.is_staff:
        await service.patient_exists(patient_id)

    async def fetch(offset: int, limit: int) -> list[DocumentRead]:
        rows = await service.list(patient_id, actor, offset=offset, limit=limit)
        return [DocumentRead.of(row) for row in rows]

    return await paginate(
        caller.links,
        page_request,
        DocumentRead,
        count=lambda exact_up_to: service.count(patient_id, actor, exact_up_to=exact_up_to),
        fetch=fetch,
    )


@router.post(
    "/",
    name=Action.UPLOAD_DOCUMENT,
    response_model=DocumentRead,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a document",
    response_description="The document's metadata; Location is its URL.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 409, 422), **ETAG_CREATED},
)
async def upload_document(
    patient_id: PatientIdPath,
    file: Annotated[
        UploadFile,
        File(
            description="A PDF, or a JPEG, PNG or WebP image, at most DOCUMENT_MAX_BYTES "
            "(10 MiB by default). Its type is sniffed from its bytes."
        ),
    ],
    title: Annotated[Title, Form(description="1-200 characters, one line.")],
    category: Annotated[Category, Form(description="consent, referral, intake or other.")],
    caller: DocumentUploadCaller,
    _: Idempotent,
    response: Response,
    appointment: Annotated[
        int | None, Form(description="An appointment of this patient.", ge=1, le=2**63 - 1)
    ] = None,
) -> DocumentRead:
    """Upload a PDF or image for the patient (staff, or the patient themself)."""
    service = _service(caller)
    data = await _read_capped(file, service.settings.document_max_bytes)
    upload = Upload(title=title, category=category, appointment=appointment, data=data)
    document = await service.upload(patient_id, upload, await caller.principal())
    response.headers["Location"] = caller.links.to(
        f"api/patients/{patient_id}/documents/{document['id']}/"
    )
    return _answer(document, response)


@router.get(
    "/{document_id}/",
    name=Action.GET_DOCUMENT,
    response_model=DocumentRead,
    summary="Read a document's metadata",
    response_description="The document's metadata (its bytes: `download/`).",
    responses={**errors(*COMMON_ERRORS, 404), **ETAG},
)
async def get_document(
    patient_id: PatientIdPath,
    document_id: DocumentIdPath,
    caller: DocumentReadCaller,
    response: Response,
) -> DocumentRead:
    """Read one document's metadata; a withheld one is not found by its patient."""
    document = await _service(caller).get(patient_id, document_id, caller=caller)
    return _answer(document, response)


@router.get(
    "/{document_id}/download/",
    name=Action.DOWNLOAD_DOCUMENT,
    response_class=Response,
    summary="Download a document",
    response_description="The bytes as an attachment, with their sniffed media type.",
    responses={
        **errors(*COMMON_ERRORS, 404),
        200: {
            "content": {
                "application/pdf": {},
                "image/jpeg": {},
                "image/png": {},
                "image/webp": {},
            }
        },
    },
)
async def download_document(
    patient_id: PatientIdPath, document_id: DocumentIdPath, caller: DocumentReadCaller
) -> Response:
    """The document's bytes, as an attachment (every download is audited)."""
    return await _service(caller).download(patient_id, document_id, caller=caller)


@router.patch(
    "/{document_id}/",
    name=Action.UPDATE_DOCUMENT,
    response_model=DocumentRead,
    summary="Change a document",
    response_description="The document's metadata as changed.",
    responses={**errors(*BODY_ERRORS, *COMMON_ERRORS, 404, 412), **ETAG},
)
async def update_document(
    patient_id: PatientIdPath,
    document_id: DocumentIdPath,
    caller: DocumentChangeCaller,
    cond: ConditionalDep,
    payload: Annotated[DocumentUpdate, Body()] = DocumentUpdate(),
) -> DocumentRead:
    """Change the title or category, or withhold the document from its patient with a reason
    (staff)."""
    document = await _service(caller).update(patient_id, document_id, payload, cond.versions)
    return _answer(document, cond.response)


@router.delete(
    "/{document_id}/",
    name=Action.DELETE_DOCUMENT,
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a document",
    response_description="Deleted; no body.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def delete_document(
    patient_id: PatientIdPath,
    document_id: DocumentIdPath,
    caller: DocumentDeleteCaller,
    after: BackgroundTasks,
) -> None:
    """Delete the document and its bytes (admins)."""
    service = _service(caller)
    after.add_task(service.store.remove, await service.delete(patient_id, document_id))

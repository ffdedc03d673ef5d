from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, UploadFile, status
from fastapi.responses import Response

from app.audit.actions import Action
from app.auth.access import AdminOrSelfCaller, StaffOrSelfCaller
from app.core.errors import PayloadTooLarge
from app.core.openapi import COMMON_ERRORS, errors
from app.patients.dependencies import PatientIdPath
from app.patients.schemas import PatientRead
from app.pictures.dependencies import picture_service
from app.requests.routing import AuditedRoute

router = APIRouter(
    prefix="/api/patients/{patient_id}/profile_picture",
    tags=["profile picture"],
    route_class=AuditedRoute,
)
READ_CHUNK = 1024 * 1024


async def _read_capped(upload: UploadFile, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


@router.put(
    "/",
    name=Action.UPLOAD_PROFILE_PICTURE,
    response_model=PatientRead,
    summary="Upload the profile picture",
    response_description="The patient, whose `profile_picture` is now the picture's URL.",
    responses=errors(400, *COMMON_ERRORS, 404, 413, 415),
)
async def upload_profile_picture(
    patient_id: PatientIdPath,
    file: Annotated[UploadFile, File(description="A JPEG, PNG or WebP image, at most 5 MB.")],
    caller: StaffOrSelfCaller,
    after: BackgroundTasks,
) -> PatientRead:
    """Set the patient's profile picture (re-encoded: no EXIF or GPS metadata survives)."""
    pictures = picture_service(caller)
    data = await _read_capped(file, pictures.settings.picture_max_bytes)
    patient, previous = await pictures.upload(patient_id, data)
    after.add_task(pictures.store.remove, previous)
    return PatientRead.of(patient, caller.links)


@router.get(
    "/",
    name=Action.GET_PROFILE_PICTURE,
    response_class=Response,
    summary="Download the profile picture",
    response_description="The image: JPEG, PNG or WebP.",
    responses={
        **errors(*COMMON_ERRORS, 404),
        200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}},
    },
)
async def get_profile_picture(patient_id: PatientIdPath, caller: StaffOrSelfCaller) -> Response:
    """The profile picture's bytes."""
    return await picture_service(caller).download(patient_id)


@router.delete(
    "/",
    name=Action.DELETE_PROFILE_PICTURE,
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove the profile picture",
    response_description="Removed (or there was none); no body.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def delete_profile_picture(
    patient_id: PatientIdPath, caller: AdminOrSelfCaller, after: BackgroundTasks
) -> None:
    """Remove the profile picture (also when there is none)."""
    pictures = picture_service(caller)
    after.add_task(pictures.store.remove, await pictures.remove(patient_id))

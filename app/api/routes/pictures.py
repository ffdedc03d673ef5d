import asyncio
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, File, UploadFile, status
from fastapi.responses import FileResponse

from app.api.deps import (
    MultipartUpload,
    PatientIdDep,
    PatientRepoDep,
    PictureStoreDep,
    SettingsDep,
    allow,
)
from app.api.docs import errors
from app.api.urls import remember_base_url
from app.core.errors import NotFound, PayloadTooLarge
from app.core.permissions import Access
from app.models.patient import Patient
from app.schemas.patient import PatientRead
from app.services.pictures import clean_picture, media_type

router = APIRouter(
    prefix="/api/patients/{patient_id}/profile_picture",
    tags=["profile picture"],
    dependencies=[Depends(remember_base_url)],
)

AUTH_ERRORS = (401, 403, 429)
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
    response_model=PatientRead,
    dependencies=[allow(Access.STAFF_OR_SELF), MultipartUpload],
    responses=errors(400, *AUTH_ERRORS, 404, 413, 415),
)
async def upload_profile_picture(
    patient_id: PatientIdDep,
    file: Annotated[UploadFile, File(description="A JPEG, PNG or WebP image, at most 5 MB.")],
    repo: PatientRepoDep,
    store: PictureStoreDep,
    settings: SettingsDep,
    after: BackgroundTasks,
) -> Patient:
    """Set the patient's profile picture (re-encoded: no EXIF or GPS metadata survives)."""
    data = await _read_capped(file, settings.picture_max_bytes)
    picture = await asyncio.to_thread(
        clean_picture,
        data,
        max_bytes=settings.picture_max_bytes,
        max_side=settings.picture_max_side,
    )
    name = await asyncio.to_thread(store.save, picture)
    try:
        patient, old_name = await repo.replace_picture(patient_id, name)
    except BaseException:
        store.remove(name)
        raise
    after.add_task(store.remove, old_name)
    return patient


@router.get(
    "/",
    response_class=FileResponse,
    dependencies=[allow(Access.STAFF_OR_SELF)],
    responses={
        **errors(*AUTH_ERRORS, 404),
        200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}},
    },
)
async def get_profile_picture(
    patient_id: PatientIdDep, repo: PatientRepoDep, store: PictureStoreDep
) -> FileResponse:
    """The profile picture's bytes."""
    patient = await repo.get(patient_id)
    path = store.path(patient.profile_picture) if patient.profile_picture else None
    if path is None:
        raise NotFound
    return FileResponse(
        path, media_type=media_type(path.name), headers={"Cache-Control": "private, no-store"}
    )


@router.delete(
    "/",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[allow(Access.ADMIN_OR_SELF)],
    responses=errors(*AUTH_ERRORS, 404),
)
async def delete_profile_picture(
    patient_id: PatientIdDep, repo: PatientRepoDep, store: PictureStoreDep, after: BackgroundTasks
) -> None:
    """Remove the profile picture (also when there is none)."""
    _, old_name = await repo.replace_picture(patient_id, None)
    after.add_task(store.remove, old_name)

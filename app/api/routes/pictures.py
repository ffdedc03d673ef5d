import asyncio
from typing import Annotated

import anyio
from fastapi import APIRouter, BackgroundTasks, Depends, File, UploadFile, status
from fastapi.responses import Response

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
from app.services.pictures import clean_picture

router = APIRouter(
    prefix="/api/patients/{patient_id}/profile_picture",
    tags=["profile picture"],
    dependencies=[Depends(remember_base_url)],
)

# Any endpoint here: no or bad token, a role that may not, throttled, the database unavailable.
COMMON_ERRORS = (401, 403, 429, 503)
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
    summary="Upload the profile picture",
    response_description="The patient, whose `profile_picture` is now the picture's URL.",
    responses=errors(400, *COMMON_ERRORS, 404, 413, 415),
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
    name = await store.save(picture)
    try:
        patient, old_name = await repo.replace_picture(patient_id, name)
    except BaseException:
        with anyio.CancelScope(shield=True):  # also when the request was cancelled
            await store.remove(name)
        raise
    after.add_task(store.remove, old_name)
    return patient


@router.get(
    "/",
    response_class=Response,
    dependencies=[allow(Access.STAFF_OR_SELF)],
    summary="Download the profile picture",
    response_description="The image: JPEG, PNG or WebP.",
    responses={
        **errors(*COMMON_ERRORS, 404),
        200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}},
    },
)
async def get_profile_picture(
    patient_id: PatientIdDep, repo: PatientRepoDep, store: PictureStoreDep
) -> Response:
    """The profile picture's bytes."""
    patient = await repo.get(patient_id)
    stored = await store.open(patient.profile_picture) if patient.profile_picture else None
    if stored is None:
        raise NotFound
    return stored.response()


@router.delete(
    "/",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[allow(Access.ADMIN_OR_SELF)],
    summary="Remove the profile picture",
    response_description="Removed (or there was none); no body.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def delete_profile_picture(
    patient_id: PatientIdDep, repo: PatientRepoDep, store: PictureStoreDep, after: BackgroundTasks
) -> None:
    """Remove the profile picture (also when there is none)."""
    _, old_name = await repo.replace_picture(patient_id, None)
    after.add_task(store.remove, old_name)

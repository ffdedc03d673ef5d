"""A patient's profile picture: checked and re-encoded, stored, referenced by the patient."""

import asyncio

import anyio
from starlette.responses import StreamingResponse

from app.core.config import Settings
from app.core.errors import NotFound
from app.patients.repository import PatientRepository
from app.patients.schemas import PatientRow
from app.patients.versions import Change
from app.pictures.images import Picture, clean_picture
from app.pictures.slots import in_decode_slot
from app.pictures.stores import FolderPictureStore, PictureStore
from app.requests.work import UnitOfWork


def picture_store(settings: Settings) -> PictureStore:
    """S3-compatible object storage when PICTURES_S3_BUCKET is set, else MEDIA_DIR's folder."""
    if settings.pictures_s3_bucket:
        from app.pictures.s3 import S3PictureStore  # boto3 is imported only when it is used

        return S3PictureStore(
            bucket=settings.pictures_s3_bucket,
            prefix=settings.pictures_s3_prefix,
            endpoint_url=settings.pictures_s3_endpoint_url,
        )
    return FolderPictureStore(settings.pictures_dir)


def decode_slots(settings: Settings) -> asyncio.Semaphore:
    """The worker process's decode slots: at most PICTURE_DECODE_CONCURRENCY pictures are in
    memory at once, each at most about twice PICTURE_MAX_DECODED_BYTES."""
    return asyncio.Semaphore(settings.picture_decode_concurrency)


class PictureService:
    def __init__(
        self,
        work: UnitOfWork,
        store: PictureStore,
        settings: Settings,
        decodes: asyncio.Semaphore,
    ) -> None:
        self.work = work
        self.store = store
        self.settings = settings
        self.decodes = decodes
        self.patients = PatientRepository(work)

    async def upload(self, patient_id: str, data: bytes) -> tuple[PatientRow, str | None]:
        """Decode, re-encode and store the picture, then point the patient at it; returns the
        patient and the picture it replaced, to remove once the work is committed."""
        picture = await self._decode(data)
        name = await self.store.save(picture)
        try:
            change = await Change.by(self.work)
            return await self.work.completed_by(
                self.patients.replace_picture(patient_id, name, change)
            )
        except BaseException:
            with anyio.CancelScope(shield=True):  # also when the request was cancelled
                await self.store.remove(name)
            raise

    async def _decode(self, data: bytes) -> Picture:
        """The picture checked and re-encoded in a worker thread, once a decode slot is free;
        503 when none frees up within PICTURE_DECODE_WAIT_SECONDS."""
        return await in_decode_slot(
            self.decodes,
            self.settings.picture_decode_wait_seconds,
            "Too many pictures are being processed, try again shortly.",
            clean_picture,
            data,
            max_bytes=self.settings.picture_max_bytes,
            max_side=self.settings.picture_max_side,
            max_decoded_bytes=self.settings.picture_max_decoded_bytes,
        )

    async def download(self, patient_id: str) -> StreamingResponse:
        """The picture's bytes; 404 when the patient has none."""
        patient = await self.patients.get(patient_id)
        if patient is None:
            raise NotFound
        name = patient["profile_picture"]
        stored = await self.store.open(name) if name else None
        if stored is None:
            raise NotFound
        return stored.response()

    async def remove(self, patient_id: str) -> str | None:
        """Clear the patient's picture (also when there is none); returns the name it had."""
        change = await Change.by(self.work)
        _, previous = await self.work.completed_by(
            self.patients.replace_picture(patient_id, None, change)
        )
        return previous

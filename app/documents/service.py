"""A patient's documents: sniffed, encrypted with the app's keyring, kept in a store of the
picture store's kind (a folder or S3, under their own folder or key prefix), and described by a
row whose every read and write is audited."""

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import anyio
from starlette.responses import Response

from app.auth.permissions import Identity, Principal
from app.auth.record import Act, allows, allows_as, party
from app.core.conditional import Versions
from app.core.config import Settings
from app.core.crypto import DecryptionError
from app.core.errors import (
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
    ValidationFailed,
)
from app.db.types import current_keyring
from app.documents.repository import DocumentRepository
from app.documents.schemas import Category, DocumentRow, DocumentUpdate
from app.documents.sniffing import Sniffed, sniff
from app.pictures.images import Picture
from app.pictures.slots import in_decode_slot
from app.pictures.stores import FolderPictureStore, PictureStore
from app.requests.work import UnitOfWork

logger = logging.getLogger(__name__)

STALE = "The document has changed since you read it: If-Match does not match its current ETag."
SEALED_EXTENSION = ".bin"  # what the store holds is ciphertext, whatever the document is
DOWNLOAD_HEADERS = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
FILENAME_MAX = 100


def document_store(settings: Settings) -> PictureStore:
    """The picture store's kind, for documents: the same bucket under its own prefix, or the
    folder MEDIA_DIR/documents."""
    if settings.pictures_s3_bucket:
        from app.pictures.s3 import S3PictureStore  # boto3 is imported only when it is used

        return S3PictureStore(
            bucket=settings.pictures_s3_bucket,
            prefix=settings.pictures_s3_documents_prefix,
            endpoint_url=settings.pictures_s3_endpoint_url,
        )
    return FolderPictureStore(settings.documents_dir)


def _withheld_too(actor: Principal, patient_id: str) -> bool:
    return allows(Act.DOCUMENTS_READ_WITHHELD, party(actor, patient_id=patient_id))


def _context(patient_id: str) -> str:
    # Authenticated with the bytes: a file moved to another patient's row does not open.
    return f"patient_documents:{patient_id}"


def safe_filename(title: str, extension: str) -> str:
    """An ASCII name for Content-Disposition, from the title: no path, quote or control."""
    stem = UNSAFE.sub("_", title).strip("._")[:FILENAME_MAX] or "document"
    return stem + extension


EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
}


@dataclass(frozen=True)
class Upload:
    title: str
    category: Category
    appointment: int | None
    data: bytes


class DocumentService:
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
        self.documents = DocumentRepository(work)

    # Reads.

    async def patient_exists(self, patient_id: str) -> None:
        """404 for a patient that does not exist (a patient caller is known to)."""
        if not await self.documents.patient_exists(patient_id):
            raise NotFound

    async def list(
        self, patient_id: str, actor: Principal, *, offset: int, limit: int
    ) -> list[DocumentRow]:
        return await self.documents.list(
            patient_id, everything=_withheld_too(actor, patient_id), offset=offset, limit=limit
        )

    async def count(self, patient_id: str, actor: Principal, *, exact_up_to: int | None) -> Any:
        return await self.documents.count(
            patient_id, everything=_withheld_too(actor, patient_id), exact_up_to=exact_up_to
        )

    async def get(self, patient_id: str, document_id: int, *, caller: Identity) -> DocumentRow:
        """The document; a withheld one is not found by its patient."""
        everything = allows_as(Act.DOCUMENTS_READ_WITHHELD, caller, patient_id)
        document = await self.work.completed_by(
            self.documents.get(patient_id, document_id, everything=everything)
        )
        if document is None:
            raise NotFound
        return document

    async def download(self, patient_id: str, document_id: int, *, caller: Identity) -> Response:
        """The document's bytes, decrypted and checked against their SHA-256, as an attachment."""
        document = await self.get(patient_id, document_id, caller=caller)
        stored = await self.store.open(document["storage_name"])
        if stored is None:
            raise NotFound
        sealed = await asyncio.to_thread(b"".join, stored.chunks)
        try:
            data = current_keyring().open(document["key_id"], sealed, context=_context(patient_id))
        except DecryptionError as error:
            logger.error("document %s does not decrypt: %s", document["id"], error)
            raise ServiceUnavailable("The document cannot be read right now.") from None
        if hashlib.sha256(data).hexdigest() != document["sha256"]:
            logger.error("document %s does not match its SHA-256", document["id"])
            raise ServiceUnavailable("The document cannot be read right now.")
        content_type = document["content_type"]
        filename = safe_filename(document["title"], EXTENSIONS.get(content_type, ""))
        disposition = f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
        return Response(
            content=data,
            media_type=content_type,
            headers={**DOWNLOAD_HEADERS, "Content-Disposition": disposition},
        )

    # Writes.

    async def upload(self, patient_id: str, upload: Upload, actor: Principal) -> DocumentRow:
        """Sniff, encrypt and store the bytes, then record the document; the stored bytes are
        removed again when the record is not written."""
        if actor.kind == "staff":
            await self.patient_exists(patient_id)
        if upload.appointment is not None:
            owner = await self.documents.appointment_patient(upload.appointment)
            if owner != patient_id:
                raise ValidationFailed.on("appointment", "Select an appointment of this patient.")
        sniffed = await self._sniff(upload.data)
        key_id, sealed = await asyncio.to_thread(
            current_keyring().seal, upload.data, context=_context(patient_id)
        )
        name = await self.store.save(Picture(content=sealed, extension=SEALED_EXTENSION))
        try:
            document = await self.work.completed_by(
                self.documents.create(
                    patient_id=patient_id,
                    appointment_id=upload.appointment,
                    title=upload.title,
                    category=upload.category,
                    content_type=sniffed.content_type,
                    size=len(upload.data),
                    sha256=hashlib.sha256(upload.data).hexdigest(),
                    storage_name=name,
                    key_id=key_id,
                    uploaded_by=actor.name,
                )
            )
            if document is None:
                raise NotFound
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.store.remove(name)
            raise
        return document

    async def _sniff(self, data: bytes) -> Sniffed:
        """The document parsed in a worker thread, in one of the picture decode slots; 503 when
        none frees up within PICTURE_DECODE_WAIT_SECONDS."""
        return await in_decode_slot(
            self.decodes,
            self.settings.picture_decode_wait_seconds,
            "Too many uploads are being processed, try again shortly.",
            sniff,
            data,
            max_bytes=self.settings.document_max_bytes,
            max_decoded_bytes=self.settings.picture_max_decoded_bytes,
        )

    async def update(
        self, patient_id: str, document_id: int, payload: DocumentUpdate, versions: Versions
    ) -> DocumentRow:
        """Change the title, category or withholding (with its reason)."""
        await self.work.begin()
        current = await self.documents.get_for_update(patient_id, document_id)
        if current is None:
            raise NotFound
        if versions is not None and current["version"] not in versions:
            raise PreconditionFailed(STALE)
        changes = payload.changes()
        withheld = changes.get("withheld", current["withheld"])
        reason = changes.get("withheld_reason", current["withheld_reason"])
        if withheld and not reason:
            raise ValidationFailed.on(
                "withheld_reason", "A reason is required to withhold a document."
            )
        if not withheld:
            changes["withheld_reason"] = None
        if not changes:
            changes = {"title": current["title"]}  # a new version all the same, as DRF's PATCH
        updated = await self.work.completed_by(
            self.documents.update(patient_id, document_id, changes)
        )
        if updated is None:
            raise NotFound
        return updated

    async def delete(self, patient_id: str, document_id: int) -> str:
        """Delete the document's record; the name of its bytes, to remove once committed."""
        name = await self.work.completed_by(self.documents.delete(patient_id, document_id))
        if name is None:
            raise NotFound
        return name

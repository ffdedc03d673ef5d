"""Profile pictures: decoded and checked with Pillow, re-encoded without metadata, and stored
under server-chosen names, in a folder (FolderPictureStore) or in S3-compatible object storage
(app.services.s3_pictures). Pillow's work is CPU-bound: callers run it in a worker thread."""

import asyncio
import io
import logging
import os
import uuid
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from PIL import Image, ImageOps, UnidentifiedImageError
from starlette.responses import StreamingResponse

from app.core.config import Settings
from app.core.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

logger = logging.getLogger(__name__)

FORMATS = {
    "JPEG": ("image/jpeg", ".jpg"),
    "PNG": ("image/png", ".png"),
    "WEBP": ("image/webp", ".webp"),
}
MEDIA_TYPES = {extension: media_type for media_type, extension in FORMATS.values()}
NOT_AN_IMAGE = "Upload a valid JPEG, PNG or WebP image."


@dataclass(frozen=True)
class Picture:
    content: bytes
    extension: str


def clean_picture(data: bytes, *, max_bytes: int, max_side: int) -> Picture:
    """The image re-encoded from its pixels alone: no EXIF, GPS, ICC or text chunks survive."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(max_bytes)
    try:
        with warnings.catch_warnings():
            # Pillow warns, then refuses, past MAX_IMAGE_PIXELS: refuse at the warning.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise UnsupportedMediaType(NOT_AN_IMAGE)
            width, height = image.size
            if width > max_side or height > max_side:
                raise ValidationFailed.on(
                    "file", f"Image must be at most {max_side}x{max_side} pixels."
                )
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnsupportedMediaType(NOT_AN_IMAGE) from None
    except (OSError, ValueError, SyntaxError):  # truncated or corrupt image data
        raise UnsupportedMediaType(NOT_AN_IMAGE) from None
    return _reencode(image)


def _reencode(image: Image.Image) -> Picture:
    image_format = image.format or "PNG"
    upright = ImageOps.exif_transpose(image)
    has_alpha = "A" in upright.getbands() or "transparency" in upright.info
    mode = "RGBA" if has_alpha and image_format != "JPEG" else "RGB"
    pixels = upright.convert(mode)
    clean = Image.frombytes(mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    if image_format == "JPEG":
        clean.save(out, "JPEG", quality=90, optimize=True)
    elif image_format == "WEBP":
        clean.save(out, "WEBP", quality=90)
    else:
        clean.save(out, "PNG", optimize=True)
    return Picture(content=out.getvalue(), extension=FORMATS[image_format][1])


CHUNK_BYTES = 64 * 1024
NO_STORE = {"Cache-Control": "private, no-store"}


@dataclass(frozen=True)
class StoredPicture:
    """An opened picture: its bytes are read while the response is sent (in a worker thread)."""

    media_type: str
    size: int | None
    chunks: Iterator[bytes]

    def response(self, headers: Mapping[str, str] = NO_STORE) -> StreamingResponse:
        if self.size is not None:
            headers = {**headers, "Content-Length": str(self.size)}
        return StreamingResponse(self.chunks, media_type=self.media_type, headers=headers)


class PictureStore(Protocol):
    """Where pictures are kept. One per app (app.state.pictures), shared by every request."""

    async def save(self, picture: Picture) -> str:
        """Store the picture under a new server-chosen name, and return that name."""
        ...

    async def open(self, name: str) -> StoredPicture | None:
        """The stored picture, or None when there is none by that name."""
        ...

    async def remove(self, name: str | None) -> None:
        """Remove the picture if there is one; a failure is logged, never raised."""
        ...


def new_name(picture: Picture) -> str:
    return uuid.uuid4().hex + picture.extension


def media_type(name: str) -> str:
    return MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")


def _read_and_close(file: BinaryIO) -> Iterator[bytes]:
    with file:
        while chunk := file.read(CHUNK_BYTES):
            yield chunk


class FolderPictureStore:
    """Files under one folder (on a volume every instance shares), named by the server."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def save(self, picture: Picture) -> str:
        return await asyncio.to_thread(self._write, picture)

    async def open(self, name: str) -> StoredPicture | None:
        file = await asyncio.to_thread(self._open, name)
        if file is None:
            return None
        return StoredPicture(
            media_type(name), os.fstat(file.fileno()).st_size, _read_and_close(file)
        )

    async def remove(self, name: str | None) -> None:
        if name:
            await asyncio.to_thread(self._unlink, name)

    def _write(self, picture: Picture) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = new_name(picture)
        temporary = self.folder / f".{name}.part"
        temporary.write_bytes(picture.content)
        temporary.replace(self.folder / name)
        return name

    def _open(self, name: str) -> BinaryIO | None:
        # Opened now, so a picture replaced meanwhile is still read whole.
        try:
            return (self.folder / Path(name).name).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def _unlink(self, name: str) -> None:
        try:
            (self.folder / Path(name).name).unlink(missing_ok=True)
        except OSError as error:
            logger.warning("could not remove picture %s: %s", Path(name).name, error)


def picture_store(settings: Settings) -> PictureStore:
    """S3-compatible object storage when PICTURES_S3_BUCKET is set, else MEDIA_DIR's folder."""
    if settings.pictures_s3_bucket:
        from app.services.s3_pictures import S3PictureStore

        return S3PictureStore(
            bucket=settings.pictures_s3_bucket,
            prefix=settings.pictures_s3_prefix,
            endpoint_url=settings.pictures_s3_endpoint_url,
        )
    return FolderPictureStore(settings.pictures_dir)

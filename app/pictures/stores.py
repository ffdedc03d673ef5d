"""Where profile pictures are kept, under server-chosen names: a folder (FolderPictureStore) or
S3-compatible object storage (app.pictures.s3). One store per app, shared by every request."""

import asyncio
import logging
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from starlette.responses import StreamingResponse

from app.pictures.images import FORMATS, Picture

logger = logging.getLogger(__name__)

MEDIA_TYPES = {extension: media_type for media_type, extension in FORMATS.values()}
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

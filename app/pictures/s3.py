"""Profile pictures in S3-compatible object storage (AWS S3, MinIO, Ceph, …), so that every
instance of the service sees the same pictures without sharing a folder.

boto3 is synchronous: every call runs in a worker thread. Its client is thread-safe and made
once per store. Credentials come from boto's own chain (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance or task role), never from this service's
settings; the region likewise (AWS_DEFAULT_REGION).
"""

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.core.errors import ServiceUnavailable
from app.pictures.images import Picture
from app.pictures.stores import CHUNK_BYTES, StoredPicture, media_type, new_name

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

MISSING = ("NoSuchKey", "404", "NotFound")


def _unavailable(action: str, error: Exception) -> ServiceUnavailable:
    # The error's type and code only: its message may quote the request.
    logger.warning("picture storage unavailable (%s): %s", action, _describe(error))
    return ServiceUnavailable()


def _describe(error: Exception) -> str:
    code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
    return f"{type(error).__name__} {code}" if code else type(error).__name__


class S3PictureStore:
    """Objects named `prefix + name` in one bucket; the name is chosen by the server."""

    def __init__(self, *, bucket: str, prefix: str = "", endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.lstrip("/")
        if self.prefix and not self.prefix.endswith("/"):
            self.prefix += "/"
        config = Config(
            # Fail within seconds (a 503) rather than hold a request for botocore's 60 s.
            connect_timeout=3,
            read_timeout=10,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=20,
            # S3-compatible servers on their own host name are addressed by path.
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        self.client: S3Client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url or None, config=config
        )

    def key(self, name: str) -> str:
        return self.prefix + Path(name).name

    async def save(self, picture: Picture) -> str:
        name = new_name(picture)
        try:
            await asyncio.to_thread(
                self.client.put_object,
                Bucket=self.bucket,
                Key=self.key(name),
                Body=picture.content,
                ContentType=media_type(name),
            )
        except (BotoCoreError, ClientError) as error:
            raise _unavailable("save", error) from None
        return name

    async def open(self, name: str) -> StoredPicture | None:
        try:
            found: Any = await asyncio.to_thread(
                self.client.get_object, Bucket=self.bucket, Key=self.key(name)
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in MISSING:
                return None
            raise _unavailable("open", error) from None
        except BotoCoreError as error:
            raise _unavailable("open", error) from None
        return StoredPicture(
            media_type(name), found.get("ContentLength"), self._chunks(found["Body"])
        )

    async def remove(self, name: str | None) -> None:
        if not name:
            return
        try:
            await asyncio.to_thread(
                self.client.delete_object, Bucket=self.bucket, Key=self.key(name)
            )
        except (BotoCoreError, ClientError) as error:
            # The patient no longer refers to it: an orphaned object, not a failed request.
            logger.warning("could not remove picture %s: %s", self.key(name), _describe(error))

    @staticmethod
    def _chunks(body: Any) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        finally:
            body.close()

"""Profile pictures: real images only, re-encoded without metadata, stored under server names.

The storage tests run twice: against the folder store and against S3-compatible object storage
(moto's server, a real HTTP S3 API on a local port)."""

import asyncio
import contextlib
import functools
import io
import re
import socket
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from PIL import Image

from app.auth.commands import create_staff
from app.core.config import Settings
from app.core.errors import UnsupportedMediaType, ValidationFailed
from app.main import create_app
from app.patients.commands import purge
from app.pictures import service as picture_service
from app.pictures.images import clean_picture, decoded_bytes
from app.pictures.s3 import S3PictureStore
from app.pictures.service import picture_store
from app.pictures.stores import FolderPictureStore, PictureStore
from tests.admin.conftest import log_in
from tests.conftest import STAFF_PASSWORD
from tests.factories import create_patient
from tests.images import blank_png


def picture_path(patient_id: str) -> str:
    return f"/api/patients/{patient_id}/profile_picture/"


def image_bytes(image_format: str, size: tuple[int, int] = (64, 48), **save: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, image_format, **save)
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}  # GPSInfo
    return image_bytes("JPEG", exif=exif)


@functools.cache
def png_16bit_rgba(width: int, height: int) -> bytes:
    """A valid 16-bit RGBA PNG of one colour: kilobytes compressed, width x height x 8 bytes
    of samples inflated."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    row = b"\x00" + b"\x12\x34\x56\x78\x9a\xbc\xff\xff" * width  # filter byte, then pixels
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0)  # 16 bits, RGBA
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def upload(
    data: bytes, name: str = "me.jpg", content_type: str = "image/jpeg"
) -> dict[str, object]:
    return {"files": {"file": (name, data, content_type)}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free port, with throwaway credentials in boto's environment."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AWS_PROFILE", raising=False)
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            patch.setenv(name, value)
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


def s3_settings(settings: Settings, endpoint: str, bucket: str) -> Settings:
    return Settings(
        **{
            **settings.model_dump(),
            "pictures_s3_bucket": bucket,
            "pictures_s3_endpoint_url": endpoint,
            "pictures_s3_prefix": "media/pictures",
        }
    )


StoredNames = Callable[[], list[str]]


@contextlib.contextmanager
def serving_from(app, store: PictureStore) -> Iterator[None]:
    # Not monkeypatch.setattr: it would restore State's instance __dict__, not its _state.
    folder = app.state.pictures
    app.state.pictures = store
    try:
        yield
    finally:
        app.state.pictures = folder


@pytest.fixture(params=["folder", "s3"])
def stored(request, app, settings) -> Iterator[StoredNames]:
    """The app's picture store for this test (the folder, or a new bucket on moto's server),
    and a function listing the names of the pictures in it."""
    if request.param == "folder":
        folder = app.state.pictures
        assert isinstance(folder, FolderPictureStore)
        assert folder.folder == settings.pictures_dir

        def in_folder() -> list[str]:
            path = folder.folder
            return sorted(file.name for file in path.iterdir()) if path.exists() else []

        yield in_folder
        return

    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"pictures-{uuid.uuid4().hex[:12]}"
    store = picture_store(s3_settings(settings, endpoint, bucket))
    assert isinstance(store, S3PictureStore)
    store.client.create_bucket(Bucket=bucket)

    def in_bucket() -> list[str]:
        listed = store.client.list_objects_v2(Bucket=bucket)
        keys = [item["Key"] for item in listed.get("Contents", [])]
        assert all(key.startswith("media/pictures/") for key in keys), keys
        return sorted(key.removeprefix("media/pictures/") for key in keys)

    with serving_from(app, store):
        yield in_bucket


@pytest.mark.parametrize(
    ("image_format", "media_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")],
)
async def test_upload_and_read_back(client, stored, image_format, media_type):
    patient = await create_patient(client)
    response = await client.put(
        picture_path(patient["id"]), **upload(image_bytes(image_format), content_type=media_type)
    )
    assert response.status_code == 200, response.text
    assert response.json()["profile_picture"] == f"http://testserver{picture_path(patient['id'])}"

    served = await client.get(picture_path(patient["id"]))
    assert served.status_code == 200
    assert served.headers["content-type"] == media_type
    assert served.headers["content-length"] == str(len(served.content))
    assert served.headers["cache-control"] == "private, no-store"
    image = Image.open(io.BytesIO(served.content))
    assert (image.format, image.size) == (image_format, (64, 48))


async def test_exif_and_gps_do_not_survive(client, stored):
    patient = await create_patient(client)
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif()  # the upload really carries EXIF
    await client.put(picture_path(patient["id"]), **upload(original))

    served = (await client.get(picture_path(patient["id"]))).content
    assert not Image.open(io.BytesIO(served)).getexif()
    assert b"Exif" not in served
    assert b"SpyCam" not in served


async def test_server_chooses_the_file_name(client, stored):
    patient = await create_patient(client)
    before = set(stored())
    await client.put(
        picture_path(patient["id"]), **upload(image_bytes("PNG"), name="../../evil.php")
    )
    (added,) = set(stored()) - before
    assert re.fullmatch(r"[0-9a-f]{32}\.png", added)


@pytest.mark.parametrize(
    ("data", "name", "content_type"),
    [
        (b"<?php echo 'hi'; ?>", "photo.jpg", "image/jpeg"),
        (image_bytes("GIF"), "anim.gif", "image/gif"),
        (image_bytes("BMP"), "photo.png", "image/png"),
        (image_bytes("JPEG")[:200], "truncated.jpg", "image/jpeg"),
        (b"", "empty.png", "image/png"),
    ],
)
async def test_anything_but_a_real_jpeg_png_or_webp_is_refused(
    client, stored, data, name, content_type
):
    patient = await create_patient(client)
    before = stored()
    response = await client.put(picture_path(patient["id"]), **upload(data, name, content_type))
    assert response.status_code == 415, response.text
    assert response.json() == {"detail": "Upload a valid JPEG, PNG or WebP image."}
    assert stored() == before
    assert (await client.get(f"/api/patients/{patient['id']}/")).json()["profile_picture"] is None


async def test_larger_than_five_megabytes_is_413(client):
    patient = await create_patient(client)
    response = await client.put(
        picture_path(patient["id"]), **upload(b"\xff" * (5 * 1024 * 1024 + 1))
    )
    assert response.status_code == 413
    assert set(response.json()) == {"detail"}


async def test_more_than_4096_pixels_a_side_is_refused(client):
    patient = await create_patient(client)
    response = await client.put(
        picture_path(patient["id"]),
        **upload(image_bytes("PNG", (4097, 8)), content_type="image/png"),
    )
    assert response.status_code == 400
    assert list(response.json()) == ["file"]
    at_limit = await client.put(
        picture_path(patient["id"]),
        **upload(image_bytes("PNG", (4096, 8)), content_type="image/png"),
    )
    assert at_limit.status_code == 200


async def test_decompression_bomb_is_refused(client, stored):
    patient = await create_patient(client)
    bomb = blank_png("1", 30000)  # a few hundred kB that would decode to 900 Mpx
    assert len(bomb) < 5 * 1024 * 1024
    before = stored()
    response = await client.put(
        picture_path(patient["id"]), **upload(bomb, content_type="image/png")
    )
    # A real PNG (so no 415), refused by the rule that failed: its size once decoded.
    assert response.status_code == 400, response.text
    assert response.json() == {
        "file": [
            "Image is too large to decode: at most 64 MiB of pixels "
            "(width x height x bytes per pixel)."
        ]
    }
    assert stored() == before


async def test_a_json_body_is_415(client):
    patient = await create_patient(client)
    response = await client.put(picture_path(patient["id"]), json={"file": "x"})
    assert response.status_code == 415


async def test_no_picture_is_404_and_deleting_none_is_204(client, stored):
    patient = await create_patient(client)
    missing = await client.get(picture_path(patient["id"]))
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not found."}
    assert (await client.delete(picture_path(patient["id"]))).status_code == 204


async def test_replacing_and_deleting_remove_the_files(client, stored):
    patient = await create_patient(client)
    await client.put(picture_path(patient["id"]), **upload(image_bytes("JPEG")))
    first = stored()
    await client.put(
        picture_path(patient["id"]), **upload(image_bytes("PNG"), content_type="image/png")
    )
    second = stored()
    assert len(first) == len(second)
    assert set(first) != set(second)
    served = await client.get(picture_path(patient["id"]))
    assert served.headers["content-type"] == "image/png"

    assert (await client.delete(picture_path(patient["id"]))).status_code == 204
    assert len(stored()) == len(first) - 1
    assert (await client.get(f"/api/patients/{patient['id']}/")).json()["profile_picture"] is None
    assert (await client.get(picture_path(patient["id"]))).status_code == 404


async def test_purging_the_patient_removes_the_picture(client, stored, app, settings):
    patient = await create_patient(client)
    await client.put(picture_path(patient["id"]), **upload(image_bytes("JPEG")))
    before = len(stored())
    assert (await client.delete(f"/api/patients/{patient['id']}/")).status_code == 204
    assert len(stored()) == before  # kept while the patient may be restored
    later = datetime.now(UTC) + timedelta(days=settings.patient_retention_days + 1)
    assert patient["id"] in await purge(settings, now=later, pictures=app.state.pictures)
    assert len(stored()) == before - 1


async def test_a_picture_missing_from_the_store_is_404(client, stored, app):
    patient = await create_patient(client)
    before = set(stored())
    await client.put(picture_path(patient["id"]), **upload(image_bytes("JPEG")))
    (name,) = set(stored()) - before
    store: PictureStore = app.state.pictures
    await store.remove(name)
    missing = await client.get(picture_path(patient["id"]))
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not found."}


async def test_the_admin_serves_and_removes_pictures_from_the_same_store(
    client, stored, app, settings
):
    patient = await create_patient(client)
    before = set(stored())
    await client.put(
        picture_path(patient["id"]), **upload(image_bytes("PNG"), content_type="image/png")
    )
    (name,) = set(stored()) - before
    await create_staff(settings, username="picture-admin", password=STAFF_PASSWORD, role="admin")
    # An app of its own: sqladmin binds its view classes to the last admin created, and other
    # tests create apps after the session's.
    own = create_app(settings)
    own.state.pictures = app.state.pictures
    transport = httpx.ASGITransport(app=own)
    async with (
        own.router.lifespan_context(own),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as staff,
    ):
        assert (await log_in(staff, "picture-admin", STAFF_PASSWORD)).status_code == 302
        image = await staff.get(f"/admin/patient/picture/{patient['id']}")
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(image.content)).size == (64, 48)
        deleted = await staff.request(
            "DELETE",
            "/admin/patient/delete",
            params={"pks": patient["id"]},
            headers={"referer": "http://testserver/admin/patient/list"},
        )
        assert deleted.status_code == 200
    assert name in stored()  # deleted, kept until purged
    later = datetime.now(UTC) + timedelta(days=settings.patient_retention_days + 1)
    assert patient["id"] in await purge(settings, now=later, pictures=app.state.pictures)
    assert name not in stored()


def test_the_store_is_chosen_by_the_settings(app, settings):
    assert isinstance(app.state.pictures, FolderPictureStore)
    s3 = picture_store(s3_settings(settings, "http://127.0.0.1:9", "clinic-pictures"))
    assert isinstance(s3, S3PictureStore)
    assert (s3.bucket, s3.prefix) == ("clinic-pictures", "media/pictures/")
    assert s3.key("../../etc/passwd") == "media/pictures/passwd"
    assert s3.client.meta.endpoint_url == "http://127.0.0.1:9"
    unset = Settings(**{**settings.model_dump(), "pictures_s3_bucket": ""})
    assert isinstance(picture_store(unset), FolderPictureStore)


async def test_unreachable_object_storage_is_a_503(client, app, settings, monkeypatch):
    """Nothing listens on the endpoint: the upload and the read fail fast, as the database's
    outages do, and the patient keeps no reference to a picture that was never stored."""
    patient = await create_patient(client)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = picture_store(s3_settings(settings, f"http://127.0.0.1:{free_port()}", "gone"))

    with serving_from(app, store):
        response = await client.put(picture_path(patient["id"]), **upload(image_bytes("JPEG")))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert set(response.json()) == {"detail"}
    assert (await client.get(f"/api/patients/{patient['id']}/")).json()["profile_picture"] is None


async def test_who_may_upload_read_and_delete(client, staff_client, anonymous, login):
    own = await create_patient(client, password="own-password")
    other = await create_patient(client)
    therapist = await staff_client("therapist")
    token = await login(own["id"], "own-password")
    as_patient = {"Authorization": f"Bearer {token}"}
    jpeg = image_bytes("JPEG")

    assert (await anonymous.put(picture_path(own["id"]), **upload(jpeg))).status_code == 401
    assert (await therapist.put(picture_path(own["id"]), **upload(jpeg))).status_code == 200
    assert (await therapist.get(picture_path(own["id"]))).status_code == 200
    assert (await therapist.delete(picture_path(own["id"]))).status_code == 403

    assert (
        await anonymous.put(picture_path(own["id"]), headers=as_patient, **upload(jpeg))
    ).status_code == 200
    assert (await anonymous.get(picture_path(own["id"]), headers=as_patient)).status_code == 200
    assert (await anonymous.get(picture_path(other["id"]), headers=as_patient)).status_code == 403
    assert (
        await anonymous.put(picture_path(other["id"]), headers=as_patient, **upload(jpeg))
    ).status_code == 403
    assert (await anonymous.get(picture_path("p_nobody"), headers=as_patient)).status_code == 404
    assert (
        await anonymous.delete(picture_path(other["id"]), headers=as_patient)
    ).status_code == 403
    assert (await anonymous.delete(picture_path(own["id"]), headers=as_patient)).status_code == 204


def test_the_decoded_size_is_what_pillow_allocates():
    """From the header alone: Pillow narrows 16-bit PNG RGBA to 8 bits a sample, and keeps RGB
    in 4 bytes a pixel, so every 4096x4096 colour image is 64 MiB once decoded."""
    sixteen_bit = Image.open(io.BytesIO(png_16bit_rgba(4096, 4096)))
    assert sixteen_bit.mode == "RGBA"
    assert len(png_16bit_rgba(4096, 4096)) < 1024 * 1024
    assert decoded_bytes(4096, 4096, sixteen_bit.mode, "RGBA") == 64 * 1024 * 1024
    assert decoded_bytes(4096, 4096, "RGB", "RGB") == 64 * 1024 * 1024
    assert decoded_bytes(4096, 4096, "I;16", "RGB") == 64 * 1024 * 1024
    assert decoded_bytes(4096, 4096, "L") == 16 * 1024 * 1024
    assert decoded_bytes(100, 10, "I;16") == 2000


def test_the_limit_is_checked_before_decoding():
    """Refused from the header: these pixel data are garbage (a 415 if they were decoded)."""
    valid = png_16bit_rgba(4096, 4096)
    header_only = valid[: 8 + 25] + struct.pack(">I", 4) + b"IDAT" + b"junk" + b"\0\0\0\0"
    limit = 63 * 1024 * 1024
    with pytest.raises(ValidationFailed) as refused:
        clean_picture(header_only, max_bytes=1024, max_side=4096, max_decoded_bytes=limit)
    assert refused.value.errors == {
        "file": [
            "Image is too large to decode: at most 63 MiB of pixels "
            "(width x height x bytes per pixel)."
        ]
    }
    with pytest.raises(UnsupportedMediaType):
        clean_picture(
            header_only, max_bytes=1024, max_side=4096, max_decoded_bytes=64 * 1024 * 1024
        )


async def test_more_decoded_memory_than_the_limit_is_refused(client, stored, settings, monkeypatch):
    """8192x4096 in 16-bit RGBA: a few hundred kB sent, 128 MiB once decoded."""
    monkeypatch.setattr(settings, "picture_max_side", 8192)
    patient = await create_patient(client)
    before = stored()
    data = png_16bit_rgba(8192, 4096)
    assert len(data) < settings.picture_max_bytes
    response = await client.put(
        picture_path(patient["id"]), **upload(data, "deep.png", "image/png")
    )
    assert response.status_code == 400, response.text
    assert response.json() == {
        "file": [
            "Image is too large to decode: at most 64 MiB of pixels "
            "(width x height x bytes per pixel)."
        ]
    }
    assert stored() == before
    assert (await client.get(f"/api/patients/{patient['id']}/")).json()["profile_picture"] is None


async def test_a_4096_pixel_photo_still_passes(client):
    patient = await create_patient(client)
    photo = Image.radial_gradient("L").resize((4096, 4096)).convert("RGB")
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=85)
    response = await client.put(picture_path(patient["id"]), **upload(out.getvalue()))
    assert response.status_code == 200, response.text
    served = await client.get(picture_path(patient["id"]))
    assert Image.open(io.BytesIO(served.content)).size == (4096, 4096)


async def test_no_more_decodes_at_once_than_the_setting(client, settings, monkeypatch):
    """Eight uploads at once: never more than PICTURE_DECODE_CONCURRENCY in a decode, and the
    others wait for a slot rather than fail."""
    lock = threading.Lock()
    running = 0
    most = 0

    def probe(*args: object, **kwargs: object) -> object:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.05)
            return clean_picture(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(picture_service, "clean_picture", probe)
    patients = [await create_patient(client) for _ in range(8)]
    responses = await asyncio.gather(
        *(
            client.put(picture_path(patient["id"]), **upload(image_bytes("JPEG")))
            for patient in patients
        )
    )
    assert [response.status_code for response in responses] == [200] * 8
    assert most == settings.picture_decode_concurrency == 2


async def test_no_free_decode_slot_in_time_is_a_503(client, app, settings, stored, monkeypatch):
    monkeypatch.setattr(settings, "picture_decode_wait_seconds", 0.05)
    patient = await create_patient(client)
    before = stored()
    slots: asyncio.Semaphore = app.state.picture_decodes
    for _ in range(settings.picture_decode_concurrency):
        await slots.acquire()
    try:
        response = await client.put(picture_path(patient["id"]), **upload(image_bytes("JPEG")))
    finally:
        for _ in range(settings.picture_decode_concurrency):
            slots.release()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert set(response.json()) == {"detail"}
    assert stored() == before
    assert (await client.get(f"/api/patients/{patient['id']}/")).json()["profile_picture"] is None
    retried = await client.put(picture_path(patient["id"]), **upload(image_bytes("JPEG")))
    assert retried.status_code == 200


async def test_a_cancelled_upload_keeps_its_slot_until_its_decode_ends(client, app, monkeypatch):
    """The thread cannot be stopped: its slot is freed when it ends, not when the request goes."""
    entered, finish = threading.Event(), threading.Event()

    def probe(*args: object, **kwargs: object) -> object:
        entered.set()
        finish.wait(10)
        return clean_picture(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(picture_service, "clean_picture", probe)
    patient = await create_patient(client)
    shared = app.state.picture_decodes
    app.state.picture_decodes = slot = asyncio.Semaphore(1)
    try:
        request = asyncio.create_task(
            client.put(picture_path(patient["id"]), **upload(image_bytes("JPEG")))
        )
        assert await asyncio.to_thread(entered.wait, 10)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        assert slot.locked()  # the request is gone, its decode still runs
        finish.set()
        async with asyncio.timeout(10):
            await slot.acquire()  # freed once the decode ends
        slot.release()
    finally:
        finish.set()
        app.state.picture_decodes = shared
    assert (await client.get(f"/api/patients/{patient['id']}/")).json()["profile_picture"] is None

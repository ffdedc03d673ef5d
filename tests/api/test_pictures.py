"""Profile pictures: real images only, re-encoded without metadata, stored under server names."""

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from tests.factories import create_patient


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


def upload(
    data: bytes, name: str = "me.jpg", content_type: str = "image/jpeg"
) -> dict[str, object]:
    return {"files": {"file": (name, data, content_type)}}


def stored_files(settings) -> list[Path]:
    folder = settings.pictures_dir
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    ("image_format", "media_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")],
)
async def test_upload_and_read_back(client, image_format, media_type):
    patient = await create_patient(client)
    response = await client.put(
        picture_path(patient["id"]), **upload(image_bytes(image_format), content_type=media_type)
    )
    assert response.status_code == 200, response.text
    assert response.json()["profile_picture"] == f"http://testserver{picture_path(patient['id'])}"

    served = await client.get(picture_path(patient["id"]))
    assert served.status_code == 200
    assert served.headers["content-type"] == media_type
    image = Image.open(io.BytesIO(served.content))
    assert (image.format, image.size) == (image_format, (64, 48))


async def test_exif_and_gps_do_not_survive(client):
    patient = await create_patient(client)
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif()  # the upload really carries EXIF
    await client.put(picture_path(patient["id"]), **upload(original))

    served = (await client.get(picture_path(patient["id"]))).content
    assert not Image.open(io.BytesIO(served)).getexif()
    assert b"Exif" not in served
    assert b"SpyCam" not in served


async def test_server_chooses_the_file_name(client, settings):
    patient = await create_patient(client)
    before = set(stored_files(settings))
    await client.put(
        picture_path(patient["id"]), **upload(image_bytes("PNG"), name="../../evil.php")
    )
    (added,) = set(stored_files(settings)) - before
    assert re.fullmatch(r"[0-9a-f]{32}\.png", added.name)
    assert added.parent == settings.pictures_dir


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
    client, settings, data, name, content_type
):
    patient = await create_patient(client)
    before = stored_files(settings)
    response = await client.put(picture_path(patient["id"]), **upload(data, name, content_type))
    assert response.status_code in (400, 415)
    assert set(response.json()) <= {"detail", "file"}
    assert stored_files(settings) == before
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


async def test_decompression_bomb_is_refused(client):
    patient = await create_patient(client)
    out = io.BytesIO()
    Image.new("1", (30000, 30000)).save(out, "PNG")  # a few kB that would decode to 900 Mpx
    assert len(out.getvalue()) < 5 * 1024 * 1024
    response = await client.put(
        picture_path(patient["id"]), **upload(out.getvalue(), content_type="image/png")
    )
    assert response.status_code in (400, 413, 415)


async def test_a_json_body_is_415(client):
    patient = await create_patient(client)
    response = await client.put(picture_path(patient["id"]), json={"file": "x"})
    assert response.status_code == 415


async def test_no_picture_is_404_and_deleting_none_is_204(client):
    patient = await create_patient(client)
    missing = await client.get(picture_path(patient["id"]))
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not found."}
    assert (await client.delete(picture_path(patient["id"]))).status_code == 204


async def test_replacing_and_deleting_remove_the_files(client, settings):
    patient = await create_patient(client)
    await client.put(picture_path(patient["id"]), **upload(image_bytes("JPEG")))
    first = stored_files(settings)
    await client.put(
        picture_path(patient["id"]), **upload(image_bytes("PNG"), content_type="image/png")
    )
    second = stored_files(settings)
    assert len(first) == len(second)
    assert set(first) != set(second)

    assert (await client.delete(picture_path(patient["id"]))).status_code == 204
    assert len(stored_files(settings)) == len(first) - 1
    assert (await client.get(f"/api/patients/{patient['id']}/")).json()["profile_picture"] is None


async def test_deleting_the_patient_removes_the_picture(client, settings):
    patient = await create_patient(client)
    await client.put(picture_path(patient["id"]), **upload(image_bytes("JPEG")))
    before = len(stored_files(settings))
    assert (await client.delete(f"/api/patients/{patient['id']}/")).status_code == 204
    assert len(stored_files(settings)) == before - 1


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

"""Patient documents: sniffed PDFs and images, encrypted at rest, downloaded as attachments,
withheld from their patient, and the role matrix cell by cell."""

import base64
import hashlib
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image
from pypdf import PdfWriter
from sqlalchemy import text

from app.core.bodylimit import MULTIPART_OVERHEAD, body_limit
from app.core.config import Settings
from app.core.crypto import Keyring
from app.db.types import use_keyring
from app.documents.service import document_store, safe_filename
from app.documents.sniffing import sniff
from app.patients.commands import purge
from app.pictures.s3 import S3PictureStore
from app.pictures.stores import FolderPictureStore
from tests.appointments.conftest import (  # noqa: F401
    book,
    make_therapist,
    therapist,
)
from tests.factories import create_patient
from tests.images import blank_png


def url(patient_id: str, document_id: int | None = None, suffix: str = "") -> str:
    base = f"/api/patients/{patient_id}/documents/"
    return base if document_id is None else f"{base}{document_id}/{suffix}"


def pdf_bytes(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image_bytes(image_format: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 200, 30)).save(out, image_format)
    return out.getvalue()


def form(
    data: bytes,
    *,
    title: str = "Signed consent",
    category: str = "consent",
    name: str = "scan.pdf",
    content_type: str = "application/pdf",
    **fields: Any,
) -> dict[str, Any]:
    return {
        "files": {"file": (name, data, content_type)},
        "data": {"title": title, "category": category, **fields},
    }


async def upload(client: httpx.AsyncClient, patient_id: str, data: bytes, **kw: Any) -> Any:
    response = await client.post(url(patient_id), **form(data, **kw))
    assert response.status_code == 201, response.text
    return response.json()


async def scalar(engine, sql: str, **params: Any) -> Any:
    async with engine.connect() as connection:
        return await connection.scalar(text(sql), params)


@pytest.mark.parametrize(
    ("image_format", "media_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")],
)
async def test_images_are_sniffed_and_read_back(client, image_format, media_type):
    patient = await create_patient(client)
    data = image_bytes(image_format)
    # The client's name and media type are not believed.
    created = await upload(
        client, patient["id"], data, name="x.pdf", content_type="application/pdf"
    )
    assert created["content_type"] == media_type
    downloaded = await client.get(url(patient["id"], created["id"], "download/"))
    assert downloaded.status_code == 200
    assert downloaded.content == data
    assert downloaded.headers["content-type"] == media_type


async def test_upload_read_download_and_audit(client, engine, settings):
    patient = await create_patient(client)
    data = pdf_bytes()
    response = await client.post(url(patient["id"]), **form(data, title="Intake / form"))
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"].endswith(url(patient["id"], created["id"]))
    assert response.headers["etag"]
    assert created["content_type"] == "application/pdf"
    assert created["size"] == len(data)
    assert created["sha256"] == hashlib.sha256(data).hexdigest()
    assert created["category"] == "consent"
    assert created["withheld"] is False
    assert created["uploaded_by"] == "admin"
    assert created["appointment"] is None

    read = await client.get(url(patient["id"], created["id"]))
    assert read.status_code == 200
    assert read.json() == created

    downloaded = await client.get(url(patient["id"], created["id"], "download/"))
    assert downloaded.status_code == 200
    assert downloaded.content == data
    assert downloaded.headers["content-type"] == "application/pdf"
    assert downloaded.headers["x-content-type-options"] == "nosniff"
    assert downloaded.headers["cache-control"] == "private, no-store"
    assert downloaded.headers["content-disposition"].startswith(
        'attachment; filename="Intake_form.pdf"'
    )

    listed = (await client.get(url(patient["id"]))).json()
    assert listed["count"] == 1
    assert listed["results"] == [created]

    # Encrypted at rest: the stored file is not the upload, and opens with the recorded key.
    name = await scalar(
        engine, "SELECT storage_name FROM patient_documents WHERE id = :i", i=created["id"]
    )
    key_id = await scalar(
        engine, "SELECT key_id FROM patient_documents WHERE id = :i", i=created["id"]
    )
    stored = (settings.documents_dir / name).read_bytes()
    assert data not in stored
    assert b"%PDF" not in stored
    assert key_id == "test1"
    keyring = Keyring.parse(settings.phi_encryption_keys.get_secret_value())
    opened = keyring.open(key_id, stored, context=f"patient_documents:{patient['id']}")
    assert opened == data
    # The title is PHI: encrypted too.
    raw_title = await scalar(
        engine, "SELECT title FROM patient_documents WHERE id = :i", i=created["id"]
    )
    assert raw_title.startswith("v1:test1:")

    actions = await scalar(
        engine,
        "SELECT string_agg(action, ',' ORDER BY id) FROM audit_events WHERE patient_id = :p "
        "AND action LIKE '%document%'",
        p=patient["id"],
    )
    assert actions == "upload_document,get_document,download_document,list_documents"


async def test_every_download_is_audited(client, engine):
    patient = await create_patient(client)
    created = await upload(client, patient["id"], pdf_bytes())
    for _ in range(3):
        assert (await client.get(url(patient["id"], created["id"], "download/"))).status_code == 200
    downloads = await scalar(
        engine,
        "SELECT count(*) FROM audit_events WHERE patient_id = :p AND action = 'download_document'"
        " AND outcome = 'success'",
        p=patient["id"],
    )
    assert downloads == 3


@pytest.mark.parametrize(
    "data",
    [
        b"hello, plain text",
        b"%PDF-1.7\nnot really a pdf at all",
        b"<html><script>alert(1)</script></html>",
        b"GIF89a" + b"\x00" * 40,
        image_bytes("PNG")[:60],  # truncated
    ],
)
async def test_anything_else_is_415(client, engine, data, settings):
    patient = await create_patient(client)
    before = sorted(settings.documents_dir.rglob("*"))  # other tests' files may be there
    response = await client.post(url(patient["id"]), **form(data))
    assert response.status_code == 415, response.text
    assert response.json() == {"detail": "Upload a PDF, or a JPEG, PNG or WebP image."}
    assert sorted(settings.documents_dir.rglob("*")) == before  # no file, not even a part
    documents = "SELECT count(*) FROM patient_documents WHERE patient_id = :id"
    assert await scalar(engine, documents, id=patient["id"]) == 0


TOO_LARGE_TO_DECODE = {
    "file": [
        "Image is too large to decode: at most 64 MiB of pixels (width x height x bytes per pixel)."
    ]
}


@pytest.mark.parametrize(
    ("mode", "side"),
    [
        ("RGB", 4200),  # 17.6 Mpx, 70.6 MB decoded: past the limit, within Pillow's
        ("1", 10000),  # 100 Mpx: Pillow warns (a bomb past 89 Mpx)
        ("1", 30000),  # 900 Mpx in a few kB: Pillow refuses (a bomb past 179 Mpx)
    ],
    ids=["past-the-limit", "bomb-warning", "bomb-error"],
)
async def test_a_real_png_too_large_to_decode_is_400_on_file(client, engine, mode, side, settings):
    """A real PNG (so no 415), refused by the rule that failed: its size once decoded."""
    data = blank_png(mode, side)  # made here, not when the module is collected by every worker
    patient = await create_patient(client)
    before = sorted(settings.documents_dir.rglob("*"))
    response = await client.post(url(patient["id"]), **form(data, content_type="image/png"))
    assert response.status_code == 400, response.text
    assert response.json() == TOO_LARGE_TO_DECODE
    assert sorted(settings.documents_dir.rglob("*")) == before
    documents = "SELECT count(*) FROM patient_documents WHERE patient_id = :id"
    assert await scalar(engine, documents, id=patient["id"]) == 0


async def test_too_large_is_413(client, settings):
    patient = await create_patient(client)
    data = pdf_bytes() + b"\n%" + b"x" * settings.document_max_bytes
    response = await client.post(url(patient["id"]), **form(data))
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["detail"]


async def test_a_document_larger_than_a_picture_passes_the_body_limit(client, settings):
    patient = await create_patient(client)
    # A valid PDF past PICTURE_MAX_BYTES (5 MiB), within DOCUMENT_MAX_BYTES (10 MiB).
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Padding": "x" * (settings.picture_max_bytes + 1024)})
    out = io.BytesIO()
    writer.write(out)
    data = out.getvalue()
    assert settings.picture_max_bytes < len(data) < settings.document_max_bytes
    created = await upload(client, patient["id"], data)
    assert created["size"] == len(data)


async def test_invalid_fields_are_400(client, therapist):  # noqa: F811
    patient = await create_patient(client)
    other = await create_patient(client)
    data = pdf_bytes()
    too_long = await client.post(url(patient["id"]), **form(data, title="x" * 201))
    assert too_long.status_code == 400
    assert "title" in too_long.json()
    blank = await client.post(url(patient["id"]), **form(data, title="   "))
    assert blank.status_code == 400
    assert "title" in blank.json()
    category = await client.post(url(patient["id"]), **form(data, category="selfie"))
    assert category.status_code == 400
    assert "category" in category.json()
    empty = await client.post(url(patient["id"]), **form(b""))
    assert empty.status_code == 400
    assert "file" in empty.json()
    missing = await client.post(
        url(patient["id"]),
        data={"title": "t", "category": "other"},
        files={"attachment": ("a.pdf", data, "application/pdf")},
    )
    assert missing.status_code == 400
    assert missing.json() == {"file": ["This field is required."]}
    urlencoded = await client.post(url(patient["id"]), data={"title": "t", "category": "other"})
    assert urlencoded.status_code == 415
    as_json = await client.post(url(patient["id"]), json={"title": "t", "category": "other"})
    assert as_json.status_code == 415

    # An appointment must be this patient's.
    theirs = await book(client, other["id"], therapist.id)
    wrong = await client.post(url(patient["id"]), **form(data, appointment=str(theirs["id"])))
    assert wrong.status_code == 400
    assert wrong.json() == {"appointment": ["Select an appointment of this patient."]}
    unknown = await client.post(url(patient["id"]), **form(data, appointment="999999"))
    assert unknown.status_code == 400
    assert "appointment" in unknown.json()
    mine = await book(
        client,
        patient["id"],
        therapist.id,
        start="2030-01-08T09:00:00+01:00",
        end="2030-01-08T09:50:00+01:00",
    )
    created = await upload(client, patient["id"], data, appointment=str(mine["id"]))
    assert created["appointment"] == mine["id"]


async def test_patch_withholds_and_etag(client):
    patient = await create_patient(client)
    created = await upload(client, patient["id"], pdf_bytes())
    path = url(patient["id"], created["id"])
    no_reason = await client.patch(path, json={"withheld": True})
    assert no_reason.status_code == 400
    assert no_reason.json() == {"withheld_reason": ["A reason is required to withhold a document."]}
    current = await client.get(path)
    stale = await client.patch(path, json={"title": "New"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    changed = await client.patch(
        path,
        json={"withheld": True, "withheld_reason": "Third-party information", "category": "other"},
        headers={"If-Match": current.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["withheld"] is True
    assert changed.json()["withheld_reason"] == "Third-party information"
    assert changed.json()["category"] == "other"
    assert changed.headers["etag"] != current.headers["etag"]
    released = await client.patch(path, json={"withheld": False})
    assert released.json()["withheld"] is False
    assert released.json()["withheld_reason"] is None
    renamed = await client.patch(path, json={"title": "  Referral letter  "})
    assert renamed.json()["title"] == "Referral letter"
    assert (await client.patch(path, json={"title": ""})).status_code == 400
    assert (await client.patch(path, json={"category": "x"})).status_code == 400


async def test_delete_removes_the_row_and_the_bytes(client, engine, settings):
    patient = await create_patient(client)
    created = await upload(client, patient["id"], pdf_bytes())
    name = await scalar(
        engine, "SELECT storage_name FROM patient_documents WHERE id = :i", i=created["id"]
    )
    assert (settings.documents_dir / name).exists()
    assert (await client.delete(url(patient["id"], created["id"]))).status_code == 204
    assert not (settings.documents_dir / name).exists()
    assert (await client.get(url(patient["id"], created["id"]))).status_code == 404
    assert (await client.delete(url(patient["id"], created["id"]))).status_code == 404


async def test_purging_the_patient_removes_their_documents_files(client, engine, settings):
    patient = await create_patient(client)
    other = await create_patient(client)
    names = []
    for owner in (patient, patient, other):
        created = await upload(client, owner["id"], pdf_bytes())
        names.append(
            await scalar(
                engine, "SELECT storage_name FROM patient_documents WHERE id = :i", i=created["id"]
            )
        )
    assert (await client.delete(f"/api/patients/{patient['id']}/")).status_code == 204
    assert (settings.documents_dir / names[0]).exists()  # kept while the patient may come back
    without = await create_patient(client)
    assert (await client.delete(f"/api/patients/{without['id']}/")).status_code == 204
    later = datetime.now(UTC) + timedelta(days=settings.patient_retention_days + 1)
    assert {patient["id"], without["id"]} <= set(await purge(settings, now=later))
    assert not (settings.documents_dir / names[0]).exists()
    assert not (settings.documents_dir / names[1]).exists()
    assert (settings.documents_dir / names[2]).exists()


async def test_a_document_is_found_only_under_its_patient(client):
    patient = await create_patient(client)
    other = await create_patient(client)
    created = await upload(client, patient["id"], pdf_bytes())
    assert (await client.get(url(other["id"], created["id"]))).status_code == 404
    assert (await client.get(url(other["id"], created["id"], "download/"))).status_code == 404
    assert (await client.get(url("p_nobody"))).status_code == 404


async def test_the_role_matrix(client, staff_client, anonymous, patient_client):
    own = await create_patient(client)
    other = await create_patient(client)
    me = await patient_client(own["id"])
    staff = await staff_client("therapist")
    data = pdf_bytes()

    # No token: 401.
    assert (await anonymous.get(url(own["id"]))).status_code == 401
    assert (await anonymous.post(url(own["id"]), **form(data))).status_code == 401

    # A therapist uploads, reads, downloads and changes; may not delete.
    by_therapist = await upload(staff, own["id"], data, title="Referral", category="referral")
    doc = by_therapist["id"]
    assert (await staff.get(url(own["id"]))).status_code == 200
    assert (await staff.get(url(own["id"], doc))).status_code == 200
    assert (await staff.get(url(own["id"], doc, "download/"))).status_code == 200
    assert (await staff.patch(url(own["id"], doc), json={"title": "R"})).status_code == 200
    assert (await staff.delete(url(own["id"], doc))).status_code == 403

    # The patient uploads and reads their own; may not change or delete.
    mine = await upload(me, own["id"], data, title="My intake", category="intake")
    assert mine["uploaded_by"] == own["id"]
    assert (await me.get(url(own["id"], doc))).status_code == 200
    assert (await me.get(url(own["id"], doc, "download/"))).status_code == 200
    assert (await me.patch(url(own["id"], doc), json={"title": "R"})).status_code == 403
    assert (await me.delete(url(own["id"], doc))).status_code == 403
    assert (await me.get(url(own["id"]))).json()["count"] == 2

    # Withheld: hidden from the patient's list, 404 to them; staff still see it.
    withheld = await client.patch(
        url(own["id"], doc), json={"withheld": True, "withheld_reason": "Third party"}
    )
    assert withheld.status_code == 200
    listed = (await me.get(url(own["id"]))).json()
    assert listed["count"] == 1
    assert [item["id"] for item in listed["results"]] == [mine["id"]]
    assert (await me.get(url(own["id"], doc))).status_code == 404
    assert (await me.get(url(own["id"], doc, "download/"))).status_code == 404
    assert (await staff.get(url(own["id"]))).json()["count"] == 2
    assert (await staff.get(url(own["id"], doc, "download/"))).status_code == 200

    # Another patient's documents: 403 (404 when that patient does not exist).
    assert (await me.get(url(other["id"]))).status_code == 403
    assert (await me.post(url(other["id"]), **form(data))).status_code == 403
    assert (await me.get(url(other["id"], doc))).status_code == 403
    assert (await me.get(url(other["id"], doc, "download/"))).status_code == 403
    assert (await me.get(url("p_nobody"))).status_code == 404

    # An admin deletes.
    assert (await client.delete(url(own["id"], doc))).status_code == 204


async def test_idempotent_upload(client):
    patient = await create_patient(client)
    data = pdf_bytes()
    headers = {"Idempotency-Key": "doc-1"}
    first = await client.post(url(patient["id"]), headers=headers, **form(data))
    again = await client.post(url(patient["id"]), headers=headers, **form(data))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert (await client.get(url(patient["id"]))).json()["count"] == 1


def test_sniffing_without_the_api():
    settings = Settings()
    limits = {"max_bytes": 1024 * 1024, "max_decoded_bytes": settings.picture_max_decoded_bytes}
    assert sniff(pdf_bytes(2), **limits).content_type == "application/pdf"
    assert sniff(image_bytes("JPEG"), **limits).content_type == "image/jpeg"


def test_safe_filename():
    assert safe_filename('../../etc/"passwd"\r\n', ".pdf") == "etc_passwd.pdf"
    assert safe_filename("Überweisung Dr. Müller", ".jpg") == "berweisung_Dr._M_ller.jpg"
    assert safe_filename("...", ".png") == "document.png"


async def test_files_still_open_after_a_key_rotation(client, engine, settings):
    patient = await create_patient(client)
    data = pdf_bytes()
    before = await upload(client, patient["id"], data)
    old = settings.phi_encryption_keys.get_secret_value()
    new = "next1:" + base64.b64encode(b"n" * 32).decode()
    use_keyring(Keyring.parse(f"{new},{old}"))
    try:
        after = await upload(client, patient["id"], data)
        keys = await scalar(
            engine,
            "SELECT string_agg(key_id, ',' ORDER BY id) FROM patient_documents "
            "WHERE patient_id = :p",
            p=patient["id"],
        )
        assert keys == "test1,next1"
        for document in (before, after):
            downloaded = await client.get(url(patient["id"], document["id"], "download/"))
            assert downloaded.content == data
    finally:
        use_keyring(Keyring.parse(old))


def test_the_store_is_the_pictures_kind_under_its_own_prefix(settings):
    folder = document_store(settings)
    assert isinstance(folder, FolderPictureStore)
    assert folder.folder == settings.documents_dir
    assert settings.documents_dir != settings.pictures_dir
    in_bucket = settings.model_copy(update={"pictures_s3_bucket": "therapy"})
    store = document_store(in_bucket)
    assert isinstance(store, S3PictureStore)
    assert store.prefix == "documents/"


def test_a_document_upload_may_be_larger_than_a_picture(settings):
    multipart = "multipart/form-data; boundary=x"
    documents, _ = body_limit(settings, multipart, "/api/patients/p_abc123/documents/")
    pictures, _ = body_limit(settings, multipart, "/api/patients/p_abc123/profile_picture/")
    assert documents == settings.document_max_bytes + MULTIPART_OVERHEAD
    assert pictures == settings.picture_max_bytes + MULTIPART_OVERHEAD


ONE_LINE = "Line breaks, tabs and other control characters are not allowed"


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("Consent\r\nX-Injected: 1", f"{ONE_LINE}: U+000D."),
        ("Consent\tform", f"{ONE_LINE}: U+0009."),
        ("Consent\x00", "Null characters are not allowed."),
    ],
)
async def test_an_uploaded_title_is_one_line_of_text(client, engine, title, message):
    patient = await create_patient(client)
    response = await client.post(url(patient["id"]), **form(pdf_bytes(), title=title))
    assert response.status_code == 400
    assert response.json() == {"title": [message]}
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM patient_documents")) == 0


async def test_an_uploaded_title_in_raw_utf8_with_a_lone_surrogate_is_refused(client):
    patient = await create_patient(client)
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\n'.encode()
        + "a\ud800".encode("utf-8", "surrogatepass")
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="category"\r\n\r\n'
        f"other\r\n--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n".encode()
        + pdf_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = await client.post(
        url(patient["id"]),
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 400
    assert list(response.json()) == ["title"], response.text


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (b'{"title": "a\\ud800"}', "title", "Surrogate characters are not allowed: U+D800."),
        (b'{"title": "two\\nlines"}', "title", f"{ONE_LINE}: U+000A."),
        (
            b'{"withheld": true, "withheld_reason": "x\\udfff"}',
            "withheld_reason",
            "Surrogate characters are not allowed: U+DFFF.",
        ),
        (
            b'{"withheld": true, "withheld_reason": "third\\r\\nparty"}',
            "withheld_reason",
            f"{ONE_LINE}: U+000D.",
        ),
    ],
)
async def test_a_patched_title_or_reason_is_one_line_of_text(client, body, field, message):
    patient = await create_patient(client)
    document = await upload(client, patient["id"], pdf_bytes())
    response = await client.patch(
        url(patient["id"], document["id"]),
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json() == {field: [message]}
    after = await client.get(url(patient["id"], document["id"]))
    assert after.json() == document

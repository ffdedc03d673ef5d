"""Request bodies are capped by media type before the app reads them: a 413 in the contract's
format, for an announced Content-Length and for a chunked body alike, and nothing is written."""

import io
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from app.core.bodylimit import MULTIPART_OVERHEAD, BodyLimitMiddleware, BodyTooLarge, body_limit
from app.core.config import Settings
from tests.conftest import TEST_PHI_KEY
from tests.factories import create_patient, patient_payload

SECRETS: dict[str, Any] = {
    "environment": "test",
    "secret_key": SecretStr("test-signing-key-" + "x" * 32),
    "phi_encryption_keys": SecretStr(TEST_PHI_KEY),
}
SMALL = Settings(_env_file=None, json_max_bytes=100, picture_max_bytes=1000, **SECRETS)
JSON_TOO_LARGE = {"detail": "Request body is larger than the limit of 100 bytes."}
UPLOAD_TOO_LARGE = {"detail": "Upload is larger than the limit of 1000 bytes."}
MULTIPART = "multipart/form-data; boundary=XX"


async def chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    """A body without Content-Length, as a client streaming it chunked sends it."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


# --- the cap for each media type --------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "limit", "message"),
    [
        ("application/json", 100, JSON_TOO_LARGE["detail"]),
        ("application/json; charset=utf-8", 100, JSON_TOO_LARGE["detail"]),
        ("application/merge-patch+json", 100, JSON_TOO_LARGE["detail"]),
        ("application/x-www-form-urlencoded", 100, JSON_TOO_LARGE["detail"]),
        ("text/plain", 100, JSON_TOO_LARGE["detail"]),
        ("", 100, JSON_TOO_LARGE["detail"]),
        ("multipart/form-data; boundary=XX", 1000 + MULTIPART_OVERHEAD, UPLOAD_TOO_LARGE["detail"]),
        (
            " Multipart/Form-Data ;boundary=XX",
            1000 + MULTIPART_OVERHEAD,
            UPLOAD_TOO_LARGE["detail"],
        ),
    ],
)
def test_each_media_type_has_its_cap(content_type, limit, message):
    assert body_limit(SMALL, content_type) == (limit, message)


def test_the_default_caps_are_named_in_their_messages():
    defaults = Settings(_env_file=None, **SECRETS)
    assert body_limit(defaults, "application/json") == (
        256 * 1024,
        "Request body is larger than the limit of 256 KB.",
    )
    assert body_limit(defaults, MULTIPART) == (
        5 * 1024 * 1024 + MULTIPART_OVERHEAD,
        "Upload is larger than the limit of 5 MB.",
    )


# --- the middleware around a small app --------------------------------------------------------


class Echo:
    """Reads the whole body and answers its length; remembers whether it ran."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        body = await Request(scope, receive).body()
        await JSONResponse({"received": len(body)})(scope, receive, send)


def client_of(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=BodyLimitMiddleware(app, settings=SMALL)),
        base_url="http://testserver",
    )


@pytest.mark.parametrize("size", [0, 1, 99, 100])
async def test_a_body_up_to_the_cap_reaches_the_app(size):
    app = Echo()
    async with client_of(app) as client:
        announced = await client.post("/", content=b"x" * size)
        streamed = await client.post("/", content=chunks(b"x" * size))
    assert (announced.status_code, announced.json()) == (200, {"received": size})
    assert (streamed.status_code, streamed.json()) == (200, {"received": size})


async def test_an_announced_length_over_the_cap_is_refused_before_the_app_runs():
    app = Echo()
    async with client_of(app) as client:
        response = await client.post("/", content=b"x" * 101)
    assert response.status_code == 413
    assert response.json() == JSON_TOO_LARGE
    assert response.headers["content-type"] == "application/json"
    assert app.calls == 0


@pytest.mark.parametrize("size", [101, 1000, 100_000])
async def test_a_chunked_body_streaming_past_the_cap_is_refused(size):
    app = Echo()
    async with client_of(app) as client:
        response = await client.post("/", content=chunks(b"x" * size))
    assert response.status_code == 413
    assert response.json() == JSON_TOO_LARGE


@pytest.mark.parametrize("length", ["10", "abc", "-5", "\u00b2", ""])
async def test_a_wrong_or_garbled_content_length_does_not_lift_the_cap(length):
    async def send_body(scope: Scope, receive: Receive, send: Send) -> None:
        scope["headers"] = [(b"content-length", length.encode("latin-1"))]
        await BodyLimitMiddleware(Echo(), settings=SMALL)(scope, receive, send)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=send_body), base_url="http://testserver"
    ) as client:
        response = await client.post("/", content=chunks(b"x" * 101))
    assert response.status_code == 413
    assert response.json() == JSON_TOO_LARGE


async def test_whatever_the_app_answers_to_an_overflowing_body_becomes_the_413():
    async def forgiving(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await Request(scope, receive).body()
        except BodyTooLarge:
            await PlainTextResponse("bad body", status_code=400)(scope, receive, send)

    async with client_of(forgiving) as client:
        response = await client.post("/", content=chunks(b"x" * 500))
    assert response.status_code == 413
    assert response.json() == JSON_TOO_LARGE


async def test_an_app_that_crashes_on_an_overflowing_body_still_answers_413():
    async def crashing(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await Request(scope, receive).body()
        except BodyTooLarge as error:
            raise RuntimeError("the app turned it into something else") from error

    async with client_of(crashing) as client:
        response = await client.post("/", content=chunks(b"x" * 500))
    assert response.status_code == 413
    assert response.json() == JSON_TOO_LARGE


async def test_multipart_gets_the_upload_cap():
    app = Echo()
    limit = 1000 + MULTIPART_OVERHEAD
    headers = {"content-type": MULTIPART}
    async with client_of(app) as client:
        at_limit = await client.post("/", content=chunks(b"x" * limit, 4096), headers=headers)
        over = await client.post("/", content=chunks(b"x" * (limit + 1), 4096), headers=headers)
        announced = await client.post("/", content=b"x" * (limit + 1), headers=headers)
    assert (at_limit.status_code, at_limit.json()) == (200, {"received": limit})
    assert (over.status_code, over.json()) == (413, UPLOAD_TOO_LARGE)
    assert (announced.status_code, announced.json()) == (413, UPLOAD_TOO_LARGE)


async def test_other_errors_pass_through():
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        await Request(scope, receive).body()
        raise RuntimeError("boom")

    async with client_of(broken) as client:
        with pytest.raises(RuntimeError, match="boom"):
            await client.post("/", content=chunks(b"x" * 10))


async def test_an_answer_already_started_is_not_replaced():
    async def streaming_echo(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while (await receive()).get("more_body"):
            pass

    async with client_of(streaming_echo) as client:
        with pytest.raises(BodyTooLarge):
            await client.post("/", content=chunks(b"x" * 500))


async def test_other_scopes_pass_through():
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        pass

    await BodyLimitMiddleware(app, settings=SMALL)({"type": "lifespan"}, receive, send)
    assert seen == ["lifespan"]


# --- the service: 413 in the contract's format, nothing written -------------------------------

URL = "/api/patients/"
JSON = {"content-type": "application/json"}
SERVICE_TOO_LARGE = {"detail": "Request body is larger than the limit of 256 KB."}
PADDING = "x" * (256 * 1024)


async def patient_count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        count = await connection.scalar(text("SELECT count(*) FROM patients"))
    assert isinstance(count, int)
    return count


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_an_oversized_create_is_413_and_creates_nothing(client, engine, streamed):
    body = json.dumps(patient_payload(padding=PADDING)).encode()
    response = await client.post(
        URL, content=chunks(body, 8192) if streamed else body, headers=JSON
    )
    assert response.status_code == 413
    assert response.json() == SERVICE_TOO_LARGE
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert await patient_count(engine) == 0


async def test_a_chunked_body_under_the_cap_is_served(client, engine):
    body = json.dumps(patient_payload(padding="x" * 200_000)).encode()
    response = await client.post(URL, content=chunks(body, 8192), headers=JSON)
    assert response.status_code == 201, response.text
    assert await patient_count(engine) == 1


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PATCH", "", {"first_name": "Janet"}),
        ("PUT", "", {k: v for k, v in patient_payload().items() if k != "password"}),
        ("POST", "add_tag/", {"tag": "anxiety"}),
        ("POST", "add_session/", {"date": "2024-05-01T14:30:00Z"}),
        ("POST", "update_wallet/", {"amount": "10.00"}),
    ],
)
async def test_an_oversized_write_is_413_and_changes_nothing(client, method, suffix, body):
    patient = await create_patient(client)
    content = json.dumps({**body, "padding": PADDING}).encode()
    path = f"{URL}{patient['id']}/{suffix}"
    for sent in (content, chunks(content, 8192)):
        response = await client.request(method, path, content=sent, headers=JSON)
        assert response.status_code == 413
        assert response.json() == SERVICE_TOO_LARGE
    assert (await client.get(f"{URL}{patient['id']}/")).json() == patient


async def test_an_oversized_login_form_is_413(anonymous):
    form = f"username=admin&password={PADDING}".encode()
    headers = {"content-type": "application/x-www-form-urlencoded"}
    for sent in (form, chunks(form, 8192)):
        response = await anonymous.post("/api/auth/token/", content=sent, headers=headers)
        assert response.status_code == 413
        assert response.json() == SERVICE_TOO_LARGE


async def test_an_oversized_admin_login_is_413(anonymous):
    response = await anonymous.post("/admin/login", data={"username": PADDING, "password": "x"})
    assert response.status_code == 413
    assert response.json() == SERVICE_TOO_LARGE


def noise_png(side: int) -> bytes:
    """A PNG that does not compress: larger than the JSON cap, well within the upload cap."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    return out.getvalue()


async def test_an_upload_may_be_larger_than_a_json_body(client):
    patient = await create_patient(client)
    picture = noise_png(400)
    assert len(picture) > 256 * 1024
    response = await client.put(
        f"{URL}{patient['id']}/profile_picture/",
        files={"file": ("me.png", picture, "image/png")},
    )
    assert response.status_code == 200, response.text


async def test_a_chunked_upload_over_the_cap_is_413_and_stores_nothing(client, settings):
    patient = await create_patient(client)
    folder = settings.pictures_dir
    before = sorted(folder.iterdir()) if folder.exists() else []
    boundary = b"XX"
    body = (
        b"--XX\r\n"
        b'Content-Disposition: form-data; name="file"; filename="me.png"\r\n'
        b"Content-Type: image/png\r\n\r\n"
        + b"\x89PNG" * (settings.picture_max_bytes // 4 + MULTIPART_OVERHEAD)
        + b"\r\n--XX--\r\n"
    )
    response = await client.put(
        f"{URL}{patient['id']}/profile_picture/",
        content=chunks(body, 256 * 1024),
        headers={"content-type": f"multipart/form-data; boundary={boundary.decode()}"},
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "Upload is larger than the limit of 5 MB."}
    assert (await client.get(f"{URL}{patient['id']}/")).json() == patient
    assert (sorted(folder.iterdir()) if folder.exists() else []) == before

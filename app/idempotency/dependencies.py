"""Idempotency-Key on POST (draft-ietf-httpapi-idempotency-key-header).

A retry with the same key, body and X-Change-Reason gets the first response again and changes
nothing; the same key with another body or reason is a 422; a retry while the first is still
running is a 409. Keys belong to the caller and expire after `idempotency_key_ttl_seconds`. Only
a successful response is kept, and it is stored in the request's own transaction, so a write and
its stored response commit together or not at all; a failed request changed nothing and may
simply be sent again.
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, cast

from fastapi import Depends, Header, Request, Response

from app.auth.dependencies import caller_key
from app.core.config import Settings
from app.core.errors import Conflict, ParseError, UnprocessableEntity
from app.idempotency.repository import IdempotencyRepository
from app.idempotency.schemas import StoredResponseRow
from app.models.idempotency import KEY_MAX_LENGTH
from app.requests.routing import Answered, on_answer, work_of
from app.requests.work import UnitOfWork

REPLAYED_HEADERS = ("content-type", "etag", "location")
# The patients' writes keep this header's reason with the change (app.patients.dependencies): a
# retry with another reason is another request. The endpoint reads the header only after this
# dependency has run: were the reason left out, a retry would be replayed even with a reason the
# header's rule refuses.
CHANGE_REASON_HEADER = "x-change-reason"


def replay(stored: StoredResponseRow) -> Answered:
    """The answer to a retry: the stored response, instead of running again."""
    return Answered(
        Response(
            content=stored["body"].encode(),
            status_code=stored["status_code"],
            headers={**stored["headers"], "Idempotent-Replayed": "true"},
        )
    )


@dataclass
class IdempotentRequest:
    repo: IdempotencyRepository
    caller: str
    key: str
    fingerprint: str

    async def remember(self, response: Response) -> None:
        body = bytes(response.body)
        headers = {
            name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers
        }
        await self.repo.save(
            self.caller,
            self.key,
            fingerprint=self.fingerprint,
            status_code=response.status_code,
            headers=headers,
            body=body.decode(),
        )


def parse_key(raw: str) -> str:
    """The draft's key is a structured-field string (quoted); a bare token is accepted too."""
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not 1 <= len(key) <= KEY_MAX_LENGTH or not all(" " <= ch <= "~" for ch in key):
        raise ParseError(f"Idempotency-Key must be 1-{KEY_MAX_LENGTH} printable ASCII characters.")
    return key


async def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode())
    # Without the header the fingerprint is what it was before the reason counted.
    if (reason := request.headers.get(CHANGE_REASON_HEADER)) is not None:
        digest.update(b"r" + hashlib.sha256(reason.encode("latin-1")).digest())
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        # The form as parsed (its stream is consumed by then), not its bytes: a retry's
        # boundary differs.
        for name, value in sorted((await request.form()).multi_items(), key=lambda item: item[0]):
            digest.update(hashlib.sha256(name.encode()).digest())
            if isinstance(value, str):
                digest.update(b"s" + hashlib.sha256(value.encode()).digest())
            else:
                content = await value.read()
                await value.seek(0)
                digest.update(b"f" + hashlib.sha256(content).digest())
        return digest.hexdigest()
    digest.update(await request.body())
    return digest.hexdigest()


async def _idempotency(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description=(
                "Makes a retry safe: the same key and body get the first response again."
                f" 1-{KEY_MAX_LENGTH} printable ASCII characters, optionally in double quotes."
            ),
            examples=['"8e03978e-40d5-43e8-bc93-6894a57f9324"'],
        ),
    ] = None,
) -> None:
    if idempotency_key is None:
        return
    key = parse_key(idempotency_key)
    # The endpoint's caller, its first dependency (app.requests.rules), has made the work.
    work = cast(UnitOfWork, work_of(request))
    settings: Settings = request.app.state.settings
    await work.begin()  # the lock, the write and its stored response commit together
    pending = IdempotentRequest(
        repo=IdempotencyRepository(work, timedelta(seconds=settings.idempotency_key_ttl_seconds)),
        caller=caller_key(request),
        key=key,
        fingerprint=await _fingerprint(request),
    )
    stored = await pending.repo.get(pending.caller, pending.key)
    if stored is None:
        if not await pending.repo.try_lock(pending.caller, pending.key):
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; retry later.",
                headers={"Retry-After": "1"},
            )
        # The first request may have committed between the look and the lock.
        stored = await pending.repo.get(pending.caller, pending.key)
    if stored is None:
        on_answer(request, pending.remember)
        return
    if stored["fingerprint"] != pending.fingerprint:
        raise UnprocessableEntity("This Idempotency-Key was already used for a different request.")
    raise replay(stored)


# A parameter after the endpoint's caller (app.auth.access), whose key it is: `_: Idempotent`.
Idempotent = Annotated[None, Depends(_idempotency)]

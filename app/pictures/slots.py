"""The decode slots a worker shares between picture re-encodes and document parses, whose
memory is the image's pixels or the PDF's objects: at most PICTURE_DECODE_CONCURRENCY at once."""

import asyncio
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from app.core.errors import ServiceUnavailable

T = TypeVar("T")


async def in_decode_slot(
    decodes: asyncio.Semaphore,
    wait_seconds: float,
    busy: str,
    work: Callable[..., T],
    *args: Any,
    **kwargs: Any,
) -> T:
    """`work(*args, **kwargs)` in a worker thread once a slot is free; 503 (`busy`) when none
    frees up within `wait_seconds`."""
    try:
        async with asyncio.timeout(wait_seconds):
            await decodes.acquire()
    except TimeoutError:
        raise ServiceUnavailable(busy) from None
    # The slot is freed when the thread ends, not when the request does: a cancelled request
    # leaves its work running (a thread cannot be stopped), and its memory in use.
    running = asyncio.ensure_future(asyncio.to_thread(functools.partial(work, *args, **kwargs)))
    running.add_done_callback(lambda _: decodes.release())
    return await asyncio.shield(running)

"""Password hashing: Argon2id, off the event loop."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

T = TypeVar("T")

# Argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane), one at a time on a
# thread of its own (a worker per core keeps the cores busy): each hash holds its memory while
# it runs, and the allocator keeps a freed block in the arena of the thread that used it.
# argon2-cffi's default (64 MiB, 4 lanes) on the default thread pool took a worker past
# 480 MiB under creates. Hashes made with other parameters still verify, and are upgraded at
# the next login.
_passwords = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19 * 1024, parallelism=1),))
HASHES_AT_ONCE = 1
_hashing = ThreadPoolExecutor(max_workers=HASHES_AT_ONCE, thread_name_prefix="argon2")


async def _hashing_thread(work: Callable[..., T], *args: str) -> T:
    return await asyncio.get_running_loop().run_in_executor(_hashing, work, *args)


async def hash_password(password: str) -> str:
    """Argon2id, in a hashing thread: a hash takes about 35 ms of CPU."""
    return await _hashing_thread(_passwords.hash, password)


async def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Whether the password matches, and a new hash when the stored one has outdated parameters.

    With no hash (an unknown user) a dummy hash is checked, so the answer takes as long.
    """
    if password_hash is None:
        await _hashing_thread(_passwords.verify, password, _dummy_hash())
        return False, None
    return await _hashing_thread(_passwords.verify_and_update, password, password_hash)


_dummy_hashes: dict[int, str] = {}


def _dummy_hash() -> str:
    # One per hasher, so the timing matches the hasher in use (tests swap in a cheap one).
    key = id(_passwords)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = _passwords.hash("timing-equaliser")
    return _dummy_hashes[key]

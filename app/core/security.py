import asyncio

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

_passwords = PasswordHash((Argon2Hasher(),))


async def hash_password(password: str) -> str:
    """Argon2id, in a worker thread: hashing takes tens of milliseconds of CPU."""
    return await asyncio.to_thread(_passwords.hash, password)


async def verify_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """Whether the password matches, and a new hash when the stored one has outdated parameters."""
    return await asyncio.to_thread(_passwords.verify_and_update, password, password_hash)

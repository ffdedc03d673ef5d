"""The command line's staff accounts (`python -m app createsuperuser`, `createstaff`)."""

import asyncpg

from app.auth.repository import AccountRepository
from app.core.config import Settings
from app.core.errors import CommandError
from app.core.security import hash_password
from app.db.database import open_database


async def create_staff(settings: Settings, *, username: str, password: str, role: str) -> int:
    password_hash = await hash_password(password)
    async with open_database(settings) as database:
        try:
            return await AccountRepository(database).create_staff(
                username=username, role=role, password_hash=password_hash
            )
        except asyncpg.UniqueViolationError:
            raise CommandError(
                f"A staff member with username {username!r} already exists."
            ) from None

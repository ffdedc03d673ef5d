"""What the command line does, apart from parsing it: each command is one transaction."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.crypto import Keyring
from app.core.security import hash_password
from app.db.embedded import embedded_database_url
from app.db.session import create_engine, create_sessionmaker
from app.db.types import use_keyring
from app.repositories.patient import PatientRepository
from app.repositories.staff import StaffRepository


class CommandError(Exception):
    """A failure to report to the operator in one line."""


def database_url(settings: Settings) -> str:
    return settings.database_url or embedded_database_url(settings.data_dir)


@asynccontextmanager
async def sessions_for(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings, database_url(settings))
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def create_staff(settings: Settings, *, username: str, password: str, role: str) -> None:
    password_hash = await hash_password(password)
    try:
        async with sessions_for(settings) as sessions, sessions() as session, session.begin():
            await StaffRepository(session).create(
                username=username, role=role, password_hash=password_hash
            )
    except IntegrityError:
        raise CommandError(f"A staff member with username {username!r} already exists.") from None


async def rotate_keys(settings: Settings, *, batch_size: int = 500) -> int:
    """Re-encrypt every PHI field still under an old key with the first configured key."""
    assert settings.phi_encryption_keys is not None
    keyring = Keyring.parse(settings.phi_encryption_keys.get_secret_value())
    use_keyring(keyring)
    total = 0
    async with sessions_for(settings) as sessions:
        while True:
            async with sessions() as session, session.begin():
                repo = PatientRepository(session)
                stale = await repo.encrypted_under_other_keys(keyring.primary_id, limit=batch_size)
                await repo.reencrypt(stale)
            total += len(stale)
            if len(stale) < batch_size:
                return total

"""`python -m app rotate-keys`: PHI re-encrypted under the current key, in batches.
`python -m app purge`: deleted patients past the retention period removed for good.
`python -m app identity-clashes`: the patients whose phone numbers or e-mail addresses clash."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol, TypeVar

from app.audit.actions import Action
from app.audit.service import AuditEntry
from app.auth.commands import CLI_ACTOR_KIND, operator
from app.core.config import Settings
from app.core.crypto import Keyring
from app.core.errors import NotFound
from app.core.phones import canonical_forms
from app.db.database import Database, open_database
from app.db.query import Executor
from app.db.types import use_keyring
from app.documents.service import document_store
from app.patients.repository import PatientRepository
from app.patients.versions import HistoryRepository
from app.pictures.service import picture_store
from app.pictures.stores import PictureStore
from app.requests.work import UnitOfWork

RowT = TypeVar("RowT")


class Reencrypting(Protocol[RowT]):
    """A repository of rows with PHI fields: those still under an old key, written anew."""

    async def encrypted_under_other_keys(self, key_id: str, *, limit: int) -> list[RowT]: ...

    async def reencrypt(self, rows: list[RowT], /) -> None: ...


async def rotate_keys(settings: Settings, *, batch_size: int = 500) -> int:
    """Re-encrypt every PHI field still under an old key with the first configured key, in the
    patients and in their record's history; each batch is its own transaction."""
    assert settings.phi_encryption_keys is not None
    keyring = Keyring.parse(settings.phi_encryption_keys.get_secret_value())
    use_keyring(keyring)
    async with open_database(settings) as database:
        total = await _rotate(database, PatientRepository, keyring.primary_id, batch_size)
        await _rotate(database, HistoryRepository, keyring.primary_id, batch_size)
    return total


async def _rotate(
    database: Database,
    repository: Callable[[Executor], Reencrypting[RowT]],
    key_id: str,
    batch_size: int,
) -> int:
    """The rows of one repository re-encrypted, a batch per transaction; how many."""
    total = 0
    while True:
        async with database.transaction() as connection:
            repo = repository(connection)
            stale = await repo.encrypted_under_other_keys(key_id, limit=batch_size)
            await repo.reencrypt(stale)
        total += len(stale)
        if len(stale) < batch_size:
            return total


async def purge(
    settings: Settings,
    *,
    now: datetime | None = None,
    batch_size: int = 100,
    dry_run: bool = False,
    pictures: PictureStore | None = None,
    documents: PictureStore | None = None,
) -> list[str]:
    """Remove every patient deleted more than PATIENT_RETENTION_DAYS ago, with their record's
    history, notes, documents and appointments, then their files; each patient in a transaction
    of its own, audited under them. Returns their ids (with `dry_run`: those it would remove)."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=settings.patient_retention_days)
    pictures = pictures or picture_store(settings)
    documents = documents or document_store(settings)
    purged: list[str] = []
    async with open_database(settings) as database:
        if dry_run:
            return await PatientRepository(database).expired(cutoff, limit=2**31 - 1)
        while expired := await PatientRepository(database).expired(cutoff, limit=batch_size):
            for patient_id in expired:
                entry = AuditEntry(
                    action=Action.CLI_PURGE_PATIENT,
                    actor=operator(),
                    actor_kind=CLI_ACTOR_KIND,
                    patient_id=patient_id,
                    client_address=None,
                )
                try:
                    async with UnitOfWork(database, entry) as work:
                        files = await work.completed_by(
                            PatientRepository(work).purge(patient_id, cutoff)
                        )
                        if files is None:  # restored meanwhile: audited as not found
                            raise NotFound
                except NotFound:
                    continue
                await pictures.remove(files.picture)
                for name in files.documents:
                    await documents.remove(name)
                purged.append(patient_id)
            if len(expired) < batch_size:
                break
    return purged


class Clashes(NamedTuple):
    """Accounts that hold one phone number or e-mail address, by id (never the number or the
    address): what migration 0015 left as it was, for staff to resolve."""

    phones: list[list[str]]
    emails: list[list[str]]
    staff_emails: list[tuple[str, int]]


async def identity_clashes(settings: Settings) -> Clashes:
    async with open_database(settings) as database:
        patients = PatientRepository(database)
        numbers = await patients.phone_numbers()
        _, phones = canonical_forms((row["id"], row["phone_no"]) for row in numbers)
        staff = [(row["patient_id"], row["staff_id"]) for row in await patients.emails_of_staff()]
        return Clashes(phones, await patients.shared_emails(), staff)

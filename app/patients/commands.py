"""`python -m app rotate-keys`: PHI re-encrypted under the current key, in batches."""

from app.core.config import Settings
from app.core.crypto import Keyring
from app.db.database import open_database
from app.db.types import use_keyring
from app.patients.repository import PatientRepository


async def rotate_keys(settings: Settings, *, batch_size: int = 500) -> int:
    """Re-encrypt every PHI field still under an old key with the first configured key; each
    batch is its own transaction."""
    assert settings.phi_encryption_keys is not None
    keyring = Keyring.parse(settings.phi_encryption_keys.get_secret_value())
    use_keyring(keyring)
    total = 0
    async with open_database(settings) as database:
        while True:
            async with database.transaction() as connection:
                repo = PatientRepository(connection)
                stale = await repo.encrypted_under_other_keys(keyring.primary_id, limit=batch_size)
                await repo.reencrypt(stale)
            total += len(stale)
            if len(stale) < batch_size:
                return total

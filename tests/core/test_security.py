import asyncio
import threading
import time

from app.core import security
from tests.conftest import PRODUCTION_PASSWORD_HASH


async def test_passwords_are_hashed_with_argon2id(monkeypatch):
    monkeypatch.setattr(security, "_passwords", PRODUCTION_PASSWORD_HASH)
    hashed = await security.hash_password("correct-horse")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")  # OWASP's recommendation
    assert "correct-horse" not in hashed
    assert await security.verify_password("correct-horse", hashed) == (True, None)
    assert (await security.verify_password("wrong-horse", hashed))[0] is False


async def test_an_outdated_hash_is_upgraded_on_verify(monkeypatch):
    outdated = await security.hash_password("correct-horse")  # the suite's cheap parameters
    monkeypatch.setattr(security, "_passwords", PRODUCTION_PASSWORD_HASH)
    valid, updated = await security.verify_password("correct-horse", outdated)
    assert valid
    assert updated is not None
    assert updated != outdated


async def test_no_more_than_one_hash_runs_at_once(monkeypatch):
    """Each hash holds its memory while it runs: the number at once bounds a worker's memory."""
    running, most = 0, 0
    lock = threading.Lock()

    class SlowHasher:
        def hash(self, password: str) -> str:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.05)
            with lock:
                running -= 1
            return "hashed"

    monkeypatch.setattr(security, "_passwords", SlowHasher())
    hashes = await asyncio.gather(*(security.hash_password(str(n)) for n in range(8)))
    assert hashes == ["hashed"] * 8
    assert most == security.HASHES_AT_ONCE == 1

from app.core import security
from tests.conftest import PRODUCTION_PASSWORD_HASH


async def test_passwords_are_hashed_with_argon2id(monkeypatch):
    monkeypatch.setattr(security, "_passwords", PRODUCTION_PASSWORD_HASH)
    hashed = await security.hash_password("correct-horse")
    assert hashed.startswith("$argon2id$")
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

from typing import Any

from sqlalchemy import Dialect, Text
from sqlalchemy.types import TypeDecorator

from app.core.crypto import Keyring

_keyring: Keyring | None = None


def use_keyring(keyring: Keyring) -> None:
    """Set once per process from settings, before the first query."""
    global _keyring
    _keyring = keyring


def current_keyring() -> Keyring:
    if _keyring is None:
        raise RuntimeError("no PHI encryption keyring configured")
    return _keyring


class EncryptedText(TypeDecorator[str]):
    """Text encrypted at rest: the one place PHI is encrypted and decrypted."""

    impl = Text
    cache_ok = True

    def __init__(self, context: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context = context

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else current_keyring().encrypt(value, context=self.context)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else current_keyring().decrypt(value, context=self.context)

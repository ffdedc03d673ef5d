from typing import Any

from sqlalchemy import Dialect, Text
from sqlalchemy.dialects.postgresql import JSONB
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


Sessions = list[dict[str, Any]]
SESSION_NOTES = "notes"  # the one field of a session that is PHI (what happened in therapy)


def seal_sessions(keyring: Keyring, sessions: Sessions, *, context: str) -> Sessions:
    """The sessions with each one's notes encrypted (the rest stays JSON anyone can query)."""
    return [
        {**session, SESSION_NOTES: keyring.encrypt(notes, context=context)}
        if isinstance(notes := session.get(SESSION_NOTES), str)
        else session
        for session in sessions
    ]


def open_sessions(keyring: Keyring, sessions: Sessions, *, context: str) -> Sessions:
    """The sessions with each one's notes decrypted."""
    return [
        {**session, SESSION_NOTES: keyring.decrypt(notes, context=context)}
        if isinstance(notes := session.get(SESSION_NOTES), str)
        else session
        for session in sessions
    ]


class EncryptedSessions(TypeDecorator[Sessions]):
    """A patient's therapy sessions, a JSONB array, with each session's notes encrypted at rest
    as EncryptedText encrypts a column (its date, length and therapist stay plain)."""

    impl = JSONB
    cache_ok = True

    def __init__(self, context: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context = context

    def process_bind_param(self, value: Sessions | None, dialect: Dialect) -> Sessions | None:
        if value is None:
            return None
        return seal_sessions(current_keyring(), value, context=self.context)

    def process_result_value(self, value: Sessions | None, dialect: Dialect) -> Sessions | None:
        if value is None:
            return None
        return open_sessions(current_keyring(), value, context=self.context)

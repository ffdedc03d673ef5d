"""The shapes of idempotency's data: the rows its statements return (TypedDicts, checked
against each statement when it is compiled: app.db.query)."""

from typing import Any, TypedDict


class StoredResponseRow(TypedDict):
    """A response stored for a key: what a retry is answered with, and the request it was for."""

    fingerprint: str
    status_code: int
    headers: dict[str, Any]
    body: str


class LockRow(TypedDict):
    locked: bool


class KeyRow(TypedDict):
    key: str

"""Therapy session notes encrypted at rest: each `notes` of a patient's `sessions` (and of every
version of their record) becomes ciphertext, under the first key of PHI_ENCRYPTION_KEYS, as
app.db.types.EncryptedSessions writes it from now on. The key comes from the settings (or, in
tests, the Alembic config's `phi_encryption_keys` attribute), and is only read when there are
notes to convert. The downgrade decrypts them again.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 09:00:00
"""

import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from app.core.config import get_settings
from app.core.crypto import Keyring
from app.db.types import open_sessions, seal_sessions

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONTEXT = "patients.sessions.notes"  # app.models.patient.SESSION_NOTES_CONTEXT
BATCH = 500
# Rows with a session whose notes are text (plain before the upgrade, ciphertext after it).
WITH_NOTES = "jsonb_path_exists(sessions, '$[*].notes ? (@.type() == \"string\")')"
TABLES = {"patients": ("id",), "patient_versions": ("patient_id", "version")}

Convert = Callable[[Keyring, list[dict[str, Any]]], list[dict[str, Any]]]


def _keyring() -> Keyring:
    spec = context.config.attributes.get("phi_encryption_keys")
    if spec is None:
        keys = get_settings().phi_encryption_keys
        assert keys is not None, "settings fill in a development key"
        spec = keys.get_secret_value()
    return Keyring.parse(str(spec))


def _convert(convert: Convert) -> None:
    """Rewrite every row's sessions with `convert`, in batches by key; nothing else changes
    (not the patient's version: their record is as it was)."""
    if context.is_offline_mode():
        raise RuntimeError("0016 encrypts stored notes with the key in Python: run it online")
    connection = op.get_bind()
    keyring: Keyring | None = None
    for table, key in TABLES.items():
        columns = ", ".join(key)
        after = f"({columns}) > ({', '.join(f':{name}' for name in key)})"
        last: dict[str, Any] | None = None
        while True:
            where = WITH_NOTES if last is None else f"{WITH_NOTES} AND {after}"
            rows = connection.execute(
                sa.text(
                    f"SELECT {columns}, sessions::text AS sessions FROM {table}"  # noqa: S608
                    f" WHERE {where} ORDER BY {columns} LIMIT {BATCH}"
                ),
                last or {},
            ).all()
            if not rows:
                break
            keyring = keyring or _keyring()
            for row in rows:
                values = {name: getattr(row, name) for name in key}
                sessions = convert(keyring, json.loads(row.sessions))
                connection.execute(
                    sa.text(
                        f"UPDATE {table} SET sessions = CAST(:sessions AS jsonb) WHERE "  # noqa: S608
                        + " AND ".join(f"{name} = :{name}" for name in key)
                    ),
                    {**values, "sessions": json.dumps(sessions)},
                )
                last = values


def upgrade() -> None:
    _convert(lambda keyring, sessions: seal_sessions(keyring, sessions, context=CONTEXT))


def downgrade() -> None:
    _convert(lambda keyring, sessions: open_sessions(keyring, sessions, context=CONTEXT))

"""Trigram indexes for the name, phone and email filters (pg_trgm, a contrib module every
supported server has, the embedded one included since it ships contrib).

`ILIKE '%…%'` cannot use a btree; a pg_trgm GIN index serves it for fragments of three or more
characters.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 06:00:00
"""

from collections.abc import Sequence

from alembic import op

from app.db.base import TRIGRAM_INDEXES

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in TRIGRAM_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON patients USING gin ({column} gin_trgm_ops)")


def downgrade() -> None:
    for name in TRIGRAM_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")

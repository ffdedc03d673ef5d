"""Finer statistics on the searched columns, so the planner sees how common a fragment is.

With the default statistics target (100) PostgreSQL estimates `phone_no LIKE '%555%'` from a
101-value histogram in which no value matches: it expected 100 of the 8,000 matches among a
million patients, and chose to fetch and sort all 8,000 (110 ms) rather than walk the
`created_at` index until a page is full (3 ms). A target of 1000 estimates within a few per cent.
The list's estimated `count` (app/db/counting.py) reads the same estimates.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 08:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCHED_COLUMNS = ("first_name", "last_name", "phone_no", "email")
STATISTICS_TARGET = 1000


def upgrade() -> None:
    for column in SEARCHED_COLUMNS:
        op.execute(f"ALTER TABLE patients ALTER COLUMN {column} SET STATISTICS {STATISTICS_TARGET}")


def downgrade() -> None:
    for column in SEARCHED_COLUMNS:
        op.execute(f"ALTER TABLE patients ALTER COLUMN {column} SET STATISTICS -1")

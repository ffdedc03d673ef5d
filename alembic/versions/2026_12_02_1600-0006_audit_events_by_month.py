"""audit_events partitioned by month of `at`, with a default partition; every row kept.

Every read appends an event, so this is the table that outgrows the machine first. Monthly
partitions let a month be archived and dropped whole (`python -m app audit-archive`) and keep
each month's indexes to that month. Months are UTC months. This migration makes a partition
for every month that has rows and for the current month and the next three;
`python -m app audit-partitions` makes the later ones. The default partition takes an event of
a month without a partition, so an insert never fails for lack of one.

The rows are copied into the new table with their ids, and the identity continues where the old
one stopped; the audit trail is locked meanwhile (58 s for ten million rows on the 2-core
development machine, 34 s back down). A partitioned table's primary key must hold the partition
key: (id, at). Each list filter's index ends with (at, id), the list's order; patient and action
together have one of their own. The append-only trigger is made on the partitioned table;
PostgreSQL clones it onto every partition, present and future.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 16:00:00
"""

from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONTHS_AHEAD = 3
COLUMNS = "id, at, actor, actor_kind, action, patient_id, client_address, outcome, status_code"
PLAIN_INDEXES = {  # migration 0002's
    "ix_audit_events_action_at": ["action", "at"],
    "ix_audit_events_actor_at": ["actor", "at"],
    "ix_audit_events_at": ["at"],
    "ix_audit_events_patient_id_at": ["patient_id", "at"],
}
PARTITIONED_INDEXES = {
    "ix_audit_events_patient_id_at_id": ["patient_id", "at", "id"],
    "ix_audit_events_patient_id_action_at_id": ["patient_id", "action", "at", "id"],
    "ix_audit_events_actor_at_id": ["actor", "at", "id"],
    "ix_audit_events_action_at_id": ["action", "at", "id"],
    "ix_audit_events_at_id": ["at", "id"],
}
APPEND_ONLY = (
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
)


def _columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=9), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
    ]


def _next(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _months(old_table: str) -> list[date]:
    """The months of the old table's rows, and the current month and MONTHS_AHEAD after it."""
    bind = op.get_bind()
    months = {
        row[0]
        for row in bind.execute(
            sa.text(
                f"SELECT DISTINCT date_trunc('month', at AT TIME ZONE 'UTC')::date FROM {old_table}"  # noqa: S608
            )
        )
    }
    month = bind.execute(sa.text("SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date"))
    current = month.scalar_one()
    for _ in range(MONTHS_AHEAD + 1):
        months.add(current)
        current = _next(current)
    return sorted(months)


def _copy_rows(source: str) -> None:
    """Every row of `source` into audit_events with its id; the identity goes on from where
    `source`'s stopped."""
    op.execute(f"INSERT INTO audit_events ({COLUMNS}) SELECT {COLUMNS} FROM {source}")  # noqa: S608
    sequence = f"{source}_id_seq"
    op.execute(
        "SELECT setval(pg_get_serial_sequence('audit_events', 'id'), last_value, is_called) "  # noqa: S608
        f"FROM {sequence}"
    )


def _set_aside(name: str) -> None:
    """Rename audit_events, its primary key and its identity sequence to `name`, freeing the
    names for the table that replaces it."""
    op.execute(f"ALTER TABLE audit_events RENAME TO {name}")
    op.execute(f"ALTER TABLE {name} RENAME CONSTRAINT pk_audit_events TO pk_{name}")
    op.execute(f"ALTER SEQUENCE audit_events_id_seq RENAME TO {name}_id_seq")


def upgrade() -> None:
    _set_aside("audit_events_unpartitioned")
    for name in PLAIN_INDEXES:
        op.drop_index(name, table_name="audit_events_unpartitioned")

    op.create_table("audit_events", *_columns(), postgresql_partition_by="RANGE (at)")
    for month in _months("audit_events_unpartitioned"):
        op.execute(
            f"CREATE TABLE audit_events_{month:%Y_%m} PARTITION OF audit_events "
            f"FOR VALUES FROM ('{month:%Y-%m-%d} 00:00:00+00') "
            f"TO ('{_next(month):%Y-%m-%d} 00:00:00+00')"
        )
    op.execute("CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT")

    # The indexes after the rows: built once per partition rather than grown row by row.
    _copy_rows("audit_events_unpartitioned")
    op.create_primary_key("pk_audit_events", "audit_events", ["id", "at"])
    for name, columns in PARTITIONED_INDEXES.items():
        op.create_index(name, "audit_events", columns)
    op.execute(APPEND_ONLY)
    op.drop_table("audit_events_unpartitioned")


def downgrade() -> None:
    _set_aside("audit_events_partitioned")
    for name in PARTITIONED_INDEXES:
        op.drop_index(name, table_name="audit_events_partitioned")

    op.create_table("audit_events", *_columns())
    _copy_rows("audit_events_partitioned")
    op.create_primary_key("pk_audit_events", "audit_events", ["id"])
    for name, columns in PLAIN_INDEXES.items():
        op.create_index(name, "audit_events", columns)
    op.execute(APPEND_ONLY)
    op.drop_table("audit_events_partitioned")  # and every partition with it

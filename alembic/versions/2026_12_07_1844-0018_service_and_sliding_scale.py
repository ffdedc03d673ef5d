"""An appointment names its billable service, and a patient may have a sliding scale.

`appointments.service_id` and `appointment_series.service_id` name the service billed (a series
gives its service to each occurrence it books); both are null for what was booked before, and
may stay null. A service is kept when deleted, so the foreign keys restrict rather than cascade.

`sliding_scales` holds at most one row per patient: the percent of a service's price the patient
pays (1-100; no row is the full price), the reason, who set it and when. It is its own table, so
the patient's row, read on the hot path, is unchanged.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 18:44:23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = postgresql.TIMESTAMP(timezone=True)
NAMING_SERVICE = ("appointments", "appointment_series")


def upgrade() -> None:
    op.create_table(
        "sliding_scales",
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("percent", sa.SmallInteger(), nullable=False),
        sa.Column("reason", sa.String(length=250), nullable=False),
        sa.Column("set_by", sa.String(length=160), nullable=False),
        sa.Column("set_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "percent BETWEEN 1 AND 100", name=op.f("ck_sliding_scales_percent_range")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_sliding_scales_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_sliding_scales")),
    )
    for table in NAMING_SERVICE:
        op.add_column(table, sa.Column("service_id", sa.BigInteger(), nullable=True))
        op.create_foreign_key(
            op.f(f"fk_{table}_service_id_billable_services"),
            table,
            "billable_services",
            ["service_id"],
            ["id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    for table in reversed(NAMING_SERVICE):
        op.drop_constraint(
            op.f(f"fk_{table}_service_id_billable_services"), table, type_="foreignkey"
        )
        op.drop_column(table, "service_id")
    op.drop_table("sliding_scales")

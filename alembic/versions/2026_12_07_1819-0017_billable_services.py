"""Billable services: what the practice bills (a code such as CPT 90834, a name, a duration and
a price), kept by admins. A deleted service is kept for the invoices that name it; its code is
unique only among the services that are not deleted (a partial unique index).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 18:19:50
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = postgresql.TIMESTAMP(timezone=True)
KEPT = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "billable_services",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("price", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "code ~ '^[A-Za-z0-9.-]{1,16}$'", name=op.f("ck_billable_services_code_format")
        ),
        sa.CheckConstraint(
            "duration_minutes BETWEEN 5 AND 480",
            name=op.f("ck_billable_services_duration_minutes_range"),
        ),
        sa.CheckConstraint(
            "price BETWEEN 0 AND 99999999.99", name=op.f("ck_billable_services_price_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billable_services")),
    )
    op.create_index(
        "uq_billable_services_code",
        "billable_services",
        ["code"],
        unique=True,
        postgresql_where=KEPT,
    )


def downgrade() -> None:
    op.drop_index("uq_billable_services_code", table_name="billable_services")
    op.drop_table("billable_services")

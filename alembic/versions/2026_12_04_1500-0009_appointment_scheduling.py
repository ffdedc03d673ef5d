"""Appointment scheduling: therapists' names, hours and time off, appointments that PostgreSQL keeps
from overlapping, recurring series, the reminders' outbox and calendar feeds.

Two exclusion constraints (btree_gist, so that `=` on an id has a GiST operator class) refuse
an active appointment whose time overlaps another active one of the same therapist, or of the
same patient, whatever the isolation level and however many bookings race.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = postgresql.TIMESTAMP(timezone=True)
ACTIVE = "status IN ('proposed', 'booked', 'arrived', 'checked-in', 'fulfilled')"
STATUSES = (
    "'proposed', 'booked', 'arrived', 'checked-in', 'fulfilled', 'cancelled', 'noshow', "
    "'entered-in-error'"
)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.add_column("staff", sa.Column("display_name", sa.String(length=150), nullable=True))
    op.create_table(
        "therapist_hours",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("starts", sa.Time(), nullable=False),
        sa.Column("ends", sa.Time(), nullable=False),
        sa.CheckConstraint(
            "weekday BETWEEN 1 AND 7", name=op.f("ck_therapist_hours_weekday_range")
        ),
        sa.CheckConstraint("starts < ends", name=op.f("ck_therapist_hours_starts_before_ends")),
        sa.ForeignKeyConstraint(
            ["therapist_id"],
            ["staff.id"],
            name=op.f("fk_therapist_hours_therapist_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_therapist_hours")),
    )
    op.create_index(
        "ix_therapist_hours_therapist_id_weekday", "therapist_hours", ["therapist_id", "weekday"]
    )
    op.create_table(
        "therapist_time_off",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", TIMESTAMP, nullable=False),
        sa.Column("ends_at", TIMESTAMP, nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "starts_at < ends_at", name=op.f("ck_therapist_time_off_starts_before_ends")
        ),
        sa.ForeignKeyConstraint(
            ["therapist_id"],
            ["staff.id"],
            name=op.f("fk_therapist_time_off_therapist_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_therapist_time_off")),
    )
    op.create_index(
        "ix_therapist_time_off_therapist_id_ends_at",
        "therapist_time_off",
        ["therapist_id", "ends_at"],
    )
    op.create_table(
        "appointment_series",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("rrule", sa.String(length=500), nullable=False),
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=160), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_appointment_series_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["therapist_id"],
            ["staff.id"],
            name=op.f("fk_appointment_series_therapist_id_staff"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment_series")),
    )
    op.create_table(
        "appointments",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", TIMESTAMP, nullable=False),
        sa.Column("ends_at", TIMESTAMP, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cancellation_reason", sa.String(length=255), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("series_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "outside_availability", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("created_by", sa.String(length=160), nullable=False),
        sa.Column(
            "version",
            sa.BigInteger(),
            server_default=sa.text("nextval('patients_version_seq')"),
            nullable=False,
        ),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("starts_at < ends_at", name=op.f("ck_appointments_starts_before_ends")),
        sa.CheckConstraint(
            "kind IN ('in_person', 'video')", name=op.f("ck_appointments_kind_choice")
        ),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_appointments_status_choice")),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_appointments_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["therapist_id"],
            ["staff.id"],
            name=op.f("fk_appointments_therapist_id_staff"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["appointment_series.id"],
            name=op.f("fk_appointments_series_id_appointment_series"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
        postgresql.ExcludeConstraint(
            (sa.column("therapist_id"), "="),
            (sa.text("tstzrange(starts_at, ends_at, '[)')"), "&&"),
            where=sa.text(ACTIVE),
            using="gist",
            name="no_overlap_for_therapist",
        ),
        postgresql.ExcludeConstraint(
            (sa.column("patient_id"), "="),
            (sa.text("tstzrange(starts_at, ends_at, '[)')"), "&&"),
            where=sa.text(ACTIVE),
            using="gist",
            name="no_overlap_for_patient",
        ),
    )
    op.create_index("ix_appointments_starts_at_id", "appointments", ["starts_at", "id"])
    op.create_index(
        "ix_appointments_therapist_id_starts_at", "appointments", ["therapist_id", "starts_at"]
    )
    op.create_index(
        "ix_appointments_patient_id_starts_at", "appointments", ["patient_id", "starts_at"]
    )
    op.create_index(
        "ix_appointments_series_id",
        "appointments",
        ["series_id"],
        postgresql_where=sa.text("series_id IS NOT NULL"),
    )
    op.create_table(
        "appointment_reminders",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("appointment_id", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", TIMESTAMP, nullable=False),
        sa.Column("dedupe_key", sa.String(length=100), nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column(
            "state", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'sent', 'skipped', 'failed')",
            name=op.f("ck_appointment_reminders_state_choice"),
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_appointment_reminders_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment_reminders")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_appointment_reminders_dedupe_key")),
    )
    op.create_index(
        "ix_appointment_reminders_next_attempt_at",
        "appointment_reminders",
        ["next_attempt_at"],
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "ix_appointment_reminders_appointment_id", "appointment_reminders", ["appointment_id"]
    )
    op.create_table(
        "calendar_feeds",
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["therapist_id"],
            ["staff.id"],
            name=op.f("fk_calendar_feeds_therapist_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("therapist_id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("digest", name=op.f("uq_calendar_feeds_digest")),
    )


def downgrade() -> None:
    op.drop_table("calendar_feeds")
    op.drop_table("appointment_reminders")
    op.drop_table("appointments")
    op.drop_table("appointment_series")
    op.drop_table("therapist_time_off")
    op.drop_table("therapist_hours")
    op.drop_column("staff", "display_name")

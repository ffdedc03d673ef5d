"""Measurement-based care: assignments, requests, responses, safety alerts and their outbox.

- `measure_assignments`: an instrument assigned to a patient (once, before every appointment,
  or before every Nth), with the lead time, how long a request stays open, and the treating
  therapist.
- `measure_requests`: each request, due at a time and expiring later, with the worker's
  attempts and lease; at most one per assignment and appointment.
- `measure_responses`: the answers (encrypted), the total and band; who administered it in
  session, if anyone.
- `safety_alerts`: a response that met a safety rule, open until acknowledged with a note
  (encrypted); when it escalates.
- `alert_notices`: the alerts' mails, one per alert, kind and recipient, sent by the worker
  under a lease until sent.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 20:44:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "measure_assignments",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("instrument", sa.String(length=32), nullable=False),
        sa.Column("schedule", sa.String(length=16), nullable=False),
        sa.Column("every", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column("lead_minutes", sa.Integer(), nullable=False),
        sa.Column("expires_after_minutes", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=160), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("ended_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.CheckConstraint(
            "schedule IN ('once', 'before_each', 'every_nth')",
            name=op.f("ck_measure_assignments_schedule_choice"),
        ),
        sa.CheckConstraint(
            "every BETWEEN 1 AND 52", name=op.f("ck_measure_assignments_every_range")
        ),
        sa.CheckConstraint(
            "expires_after_minutes BETWEEN 15 AND 43200",
            name=op.f("ck_measure_assignments_expires_after_minutes_range"),
        ),
        sa.CheckConstraint(
            "lead_minutes BETWEEN 0 AND 20160",
            name=op.f("ck_measure_assignments_lead_minutes_range"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_measure_assignments_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["therapist_id"],
            ["staff.id"],
            name=op.f("fk_measure_assignments_therapist_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measure_assignments")),
    )
    op.create_index(
        "ix_measure_assignments_patient_id", "measure_assignments", ["patient_id"], unique=False
    )
    op.create_table(
        "measure_requests",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("assignment_id", sa.BigInteger(), nullable=True),
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("instrument", sa.String(length=32), nullable=False),
        sa.Column("appointment_id", sa.BigInteger(), nullable=True),
        sa.Column("due_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("expires_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'scheduled'"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("leased_until", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("sent_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('scheduled', 'sent', 'answered', 'expired', 'cancelled', 'failed')",
            name=op.f("ck_measure_requests_status_choice"),
        ),
        sa.CheckConstraint(
            "expires_at > due_at", name=op.f("ck_measure_requests_expires_after_due")
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_measure_requests_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["measure_assignments.id"],
            name=op.f("fk_measure_requests_assignment_id_measure_assignments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_measure_requests_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measure_requests")),
    )
    op.create_index(
        "ix_measure_requests_patient_id", "measure_requests", ["patient_id", "id"], unique=False
    )
    op.create_index(
        "ix_measure_requests_status_due_at", "measure_requests", ["status", "due_at"], unique=False
    )
    op.create_index(
        "uq_measure_requests_assignment_id_appointment_id",
        "measure_requests",
        ["assignment_id", "appointment_id"],
        unique=True,
        postgresql_where=sa.text("appointment_id IS NOT NULL"),
    )
    op.create_index(
        "uq_measure_requests_once",
        "measure_requests",
        ["assignment_id"],
        unique=True,
        postgresql_where=sa.text("appointment_id IS NULL AND assignment_id IS NOT NULL"),
    )
    op.create_table(
        "measure_responses",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=True),
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("instrument", sa.String(length=32), nullable=False),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column("total", sa.SmallInteger(), nullable=False),
        sa.Column("band", sa.String(length=32), nullable=False),
        sa.Column("administered_by_id", sa.Integer(), nullable=True),
        sa.Column("administered_by", sa.String(length=160), nullable=True),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["administered_by_id"],
            ["staff.id"],
            name=op.f("fk_measure_responses_administered_by_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_measure_responses_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["measure_requests.id"],
            name=op.f("fk_measure_responses_request_id_measure_requests"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measure_responses")),
        sa.UniqueConstraint("request_id", name=op.f("uq_measure_responses_request_id")),
    )
    op.create_index(
        "ix_measure_responses_patient_id_instrument",
        "measure_responses",
        ["patient_id", "instrument", "id"],
        unique=False,
    )
    op.create_table(
        "safety_alerts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("response_id", sa.BigInteger(), nullable=False),
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'open'"), nullable=False),
        sa.Column("escalate_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("escalated_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=160), nullable=True),
        sa.Column("acknowledged_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(status = 'acknowledged') = (acknowledged_at IS NOT NULL)",
            name=op.f("ck_safety_alerts_acknowledged_when"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'acknowledged')", name=op.f("ck_safety_alerts_status_choice")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_safety_alerts_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["measure_responses.id"],
            name=op.f("fk_safety_alerts_response_id_measure_responses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["therapist_id"],
            ["staff.id"],
            name=op.f("fk_safety_alerts_therapist_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_alerts")),
    )
    op.create_index(
        "ix_safety_alerts_status_escalate_at",
        "safety_alerts",
        ["status", "escalate_at"],
        unique=False,
    )
    op.create_index(
        "uq_safety_alerts_response_id_rule", "safety_alerts", ["response_id", "rule"], unique=True
    )
    op.create_table(
        "alert_notices",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("alert_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("leased_until", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("sent_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('notify', 'escalate')", name=op.f("ck_alert_notices_kind_choice")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'undeliverable')",
            name=op.f("ck_alert_notices_status_choice"),
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["safety_alerts.id"],
            name=op.f("fk_alert_notices_alert_id_safety_alerts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_alert_notices_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notices")),
    )
    op.create_index(
        "ix_alert_notices_status_next_attempt_at",
        "alert_notices",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_index(
        "uq_alert_notices_alert_kind_staff",
        "alert_notices",
        ["alert_id", "kind", "staff_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_alert_notices_alert_kind_staff", table_name="alert_notices")
    op.drop_index("ix_alert_notices_status_next_attempt_at", table_name="alert_notices")
    op.drop_table("alert_notices")
    op.drop_index("uq_safety_alerts_response_id_rule", table_name="safety_alerts")
    op.drop_index("ix_safety_alerts_status_escalate_at", table_name="safety_alerts")
    op.drop_table("safety_alerts")
    op.drop_index("ix_measure_responses_patient_id_instrument", table_name="measure_responses")
    op.drop_table("measure_responses")
    op.drop_index(
        "uq_measure_requests_once",
        table_name="measure_requests",
        postgresql_where=sa.text("appointment_id IS NULL AND assignment_id IS NOT NULL"),
    )
    op.drop_index(
        "uq_measure_requests_assignment_id_appointment_id",
        table_name="measure_requests",
        postgresql_where=sa.text("appointment_id IS NOT NULL"),
    )
    op.drop_index("ix_measure_requests_status_due_at", table_name="measure_requests")
    op.drop_index("ix_measure_requests_patient_id", table_name="measure_requests")
    op.drop_table("measure_requests")
    op.drop_index("ix_measure_assignments_patient_id", table_name="measure_assignments")
    op.drop_table("measure_assignments")

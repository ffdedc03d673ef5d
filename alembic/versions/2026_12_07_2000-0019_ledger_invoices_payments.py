"""One ledger for all money, invoices, payments, cards on file and processor events.

- `ledger_transactions` and `ledger_entries`: every movement of money is a transaction whose
  entries (debits positive) sum to zero. A deferred constraint trigger checks each transaction's
  sum at commit, and another refuses to update or delete an entry (but for the patient's name
  becoming null when a patient is purged), so the ledger is whole whatever writes to it.
- `invoices`, `invoice_lines` and `invoice_counters`: a number per year with no gap, taken in
  the transaction that issues the invoice; (year, sequence) and the number are unique.
- `payments`, `payment_allocations`, `refunds`: money received, what it paid, what went back.
- `processor_customers`, `card_setups`, `payment_methods`: the processor's customer, the
  SetupIntents begun with the consent they carry, and the cards on file (ids, brand, last 4
  digits and expiry only).
- `processor_events`: webhook events by id, recorded with their effect.
- `patient_diagnoses`: a patient's ICD-10 codes, encrypted.
- `staff.npi`: a therapist's National Provider Identifier.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


BALANCED = (
    """
CREATE FUNCTION ledger_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total numeric;
BEGIN
    SELECT sum(amount) INTO total FROM ledger_entries WHERE transaction_id = NEW.transaction_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: its entries sum to %',
            NEW.transaction_id, total USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$
""",
    """
CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balanced()
""",
)
APPEND_ONLY = (
    """
CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.patient_id IS NULL
        AND (NEW.id, NEW.transaction_id, NEW.account, NEW.invoice_id, NEW.amount,
             NEW.balance_after, NEW.created_at)
        IS NOT DISTINCT FROM (OLD.id, OLD.transaction_id, OLD.account, OLD.invoice_id,
             OLD.amount, OLD.balance_after, OLD.created_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'ledger entries are never changed or removed' USING ERRCODE = 'check_violation';
END $$
""",
    """
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only()
""",
)


def upgrade() -> None:
    op.create_table(
        "invoice_counters",
        sa.Column("year", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_invoice_counters")),
    )
    op.create_table(
        "processor_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("created", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column(
            "received_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processor_events")),
    )
    op.create_table(
        "card_setups",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("setup_intent_id", sa.String(length=255), nullable=False),
        sa.Column("consent_text", sa.String(length=2000), nullable=False),
        sa.Column("consent_by", sa.String(length=160), nullable=False),
        sa.Column("consent_by_kind", sa.String(length=16), nullable=False),
        sa.Column(
            "consent_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_card_setups_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_setups")),
        sa.UniqueConstraint("setup_intent_id", name=op.f("uq_card_setups_setup_intent_id")),
    )
    op.create_table(
        "patient_diagnoses",
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("codes", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=160), nullable=False),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_patient_diagnoses_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_patient_diagnoses")),
    )
    op.create_table(
        "processor_customers",
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("autopay", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("autopay_changed_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("autopay_changed_by", sa.String(length=160), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_processor_customers_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_processor_customers")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_processor_customers_customer_id")),
    )
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("patient_id", sa.String(length=9), nullable=False),
        sa.Column("processor_id", sa.String(length=255), nullable=False),
        sa.Column("setup_id", sa.BigInteger(), nullable=True),
        sa.Column("brand", sa.String(length=32), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("exp_month", sa.SmallInteger(), nullable=False),
        sa.Column("exp_year", sa.SmallInteger(), nullable=False),
        sa.Column("is_default", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("removed_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.CheckConstraint("last4 ~ '^[0-9]{4}$'", name=op.f("ck_payment_methods_last4_digits")),
        sa.CheckConstraint(
            "exp_month BETWEEN 1 AND 12", name=op.f("ck_payment_methods_exp_month_range")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_payment_methods_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["setup_id"],
            ["card_setups.id"],
            name=op.f("fk_payment_methods_setup_id_card_setups"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
        sa.UniqueConstraint("processor_id", name=op.f("uq_payment_methods_processor_id")),
    )
    op.create_index(
        "ix_payment_methods_patient_id", "payment_methods", ["patient_id"], unique=False
    )
    op.create_index(
        "uq_payment_methods_default",
        "payment_methods",
        ["patient_id"],
        unique=True,
        postgresql_where=sa.text("is_default AND removed_at IS NULL"),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("patient_id", sa.String(length=9), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("appointment_id", sa.BigInteger(), nullable=True),
        sa.Column("year", sa.SmallInteger(), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=True),
        sa.Column("number", sa.String(length=16), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("memo", sa.String(length=255), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("issued_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("paid_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("closed_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=160), nullable=False),
        sa.Column(
            "autopay_attempts", sa.SmallInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("autopay_next_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column(
            "version",
            sa.BigInteger(),
            server_default=sa.text("nextval('patients_version_seq')"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(status = 'draft') = (number IS NULL) AND (number IS NULL) = (year IS NULL)"
            " AND (number IS NULL) = (sequence IS NULL)"
            " AND (number IS NULL) = (issued_at IS NULL)",
            name=op.f("ck_invoices_numbered_when_issued"),
        ),
        sa.CheckConstraint(
            "kind IN ('session', 'noshow_fee', 'late_cancellation_fee', 'manual')",
            name=op.f("ck_invoices_kind_choice"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'open', 'paid', 'void', 'uncollectible')",
            name=op.f("ck_invoices_status_choice"),
        ),
        sa.CheckConstraint("total >= 0", name=op.f("ck_invoices_total_not_negative")),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_invoices_appointment_id_appointments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_invoices_patient_id_patients"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
    )
    op.create_index("ix_invoices_patient_id_id", "invoices", ["patient_id", "id"], unique=False)
    op.create_index("ix_invoices_status_id", "invoices", ["status", "id"], unique=False)
    op.create_index(
        "uq_invoices_appointment_id_kind",
        "invoices",
        ["appointment_id", "kind"],
        unique=True,
        postgresql_where=sa.text("appointment_id IS NOT NULL AND status <> 'void'"),
    )
    op.create_index("uq_invoices_number", "invoices", ["number"], unique=True)
    op.create_index("uq_invoices_year_sequence", "invoices", ["year", "sequence"], unique=True)
    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("patient_id", sa.String(length=9), nullable=True),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column(
            "amount_refunded",
            sa.Numeric(precision=12, scale=2),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payment_method_id", sa.BigInteger(), nullable=True),
        sa.Column("processor_intent_id", sa.String(length=255), nullable=True),
        sa.Column("processor_event_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("failure_message", sa.String(length=255), nullable=True),
        sa.Column("succeeded_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("disputed_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("dispute_status", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=160), nullable=False),
        sa.Column("created_by_kind", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "method IN ('card', 'wallet', 'cash', 'cheque', 'bank_transfer')",
            name=op.f("ck_payments_method_choice"),
        ),
        sa.CheckConstraint(
            "purpose IN ('invoices', 'wallet_topup')", name=op.f("ck_payments_purpose_choice")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'requires_action', 'succeeded', 'failed', 'canceled')",
            name=op.f("ck_payments_status_choice"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount_positive")),
        sa.CheckConstraint(
            "amount_refunded BETWEEN 0 AND amount",
            name=op.f("ck_payments_refunded_not_past_amount"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_payments_patient_id_patients"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["payment_method_id"],
            ["payment_methods.id"],
            name=op.f("fk_payments_payment_method_id_payment_methods"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("processor_intent_id", name=op.f("uq_payments_processor_intent_id")),
    )
    op.create_index("ix_payments_patient_id_id", "payments", ["patient_id", "id"], unique=False)
    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("invoice_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("service_id", sa.BigInteger(), nullable=True),
        sa.Column("service_code", sa.String(length=16), nullable=True),
        sa.Column("date_of_service", sa.Date(), nullable=True),
        sa.Column("therapist_id", sa.Integer(), nullable=True),
        sa.Column("quantity", sa.SmallInteger(), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.CheckConstraint(
            "amount = quantity * unit_price",
            name=op.f("ck_invoice_lines_amount_is_quantity_times_price"),
        ),
        sa.CheckConstraint(
            "quantity BETWEEN 1 AND 100", name=op.f("ck_invoice_lines_quantity_range")
        ),
        sa.CheckConstraint(
            "unit_price >= 0", name=op.f("ck_invoice_lines_unit_price_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_lines_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["billable_services.id"],
            name=op.f("fk_invoice_lines_service_id_billable_services"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["therapist_id"],
            ["staff.id"],
            name=op.f("fk_invoice_lines_therapist_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
    )
    op.create_index(
        "uq_invoice_lines_invoice_id_position",
        "invoice_lines",
        ["invoice_id", "position"],
        unique=True,
    )
    op.create_table(
        "payment_allocations",
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("invoice_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_allocations_amount_positive")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_payment_allocations_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payment_allocations_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("payment_id", "invoice_id", name=op.f("pk_payment_allocations")),
    )
    op.create_index(
        "ix_payment_allocations_invoice_id", "payment_allocations", ["invoice_id"], unique=False
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("processor_refund_id", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("created_by", sa.String(length=160), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')", name=op.f("ck_refunds_status_choice")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("processor_refund_id", name=op.f("uq_refunds_processor_refund_id")),
    )
    op.create_index("ix_refunds_payment_id", "refunds", ["payment_id"], unique=False)
    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("patient_id", sa.String(length=9), nullable=True),
        sa.Column("invoice_id", sa.BigInteger(), nullable=True),
        sa.Column("payment_id", sa.BigInteger(), nullable=True),
        sa.Column("refund_id", sa.BigInteger(), nullable=True),
        sa.Column("claim_reference", sa.String(length=64), nullable=True),
        sa.Column("memo", sa.String(length=255), nullable=True),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('invoice', 'fee', 'payment', 'wallet_applied', 'wallet_topup',"
            " 'wallet_adjustment', 'refund', 'write_off', 'void')",
            name=op.f("ck_ledger_transactions_kind_choice"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_ledger_transactions_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_ledger_transactions_patient_id_patients"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_ledger_transactions_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name=op.f("fk_ledger_transactions_refund_id_refunds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
    )
    op.create_index(
        "ix_ledger_transactions_invoice_id", "ledger_transactions", ["invoice_id"], unique=False
    )
    op.create_index(
        "ix_ledger_transactions_payment_id", "ledger_transactions", ["payment_id"], unique=False
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(length=16), nullable=False),
        sa.Column("patient_id", sa.String(length=9), nullable=True),
        sa.Column("invoice_id", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("balance_after", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "account IN ('receivable', 'wallet', 'revenue', 'cash', 'processor', 'refunds',"
            " 'bad_debt', 'adjustments')",
            name=op.f("ck_ledger_entries_account_choice"),
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_entries_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_ledger_entries_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_ledger_entries_patient_id_patients"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_entries_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(
        "ix_ledger_entries_invoice_id", "ledger_entries", ["invoice_id", "account"], unique=False
    )
    op.create_index(
        "ix_ledger_entries_patient_id_account_id",
        "ledger_entries",
        ["patient_id", "account", "id"],
        unique=False,
    )
    op.create_index(
        "ix_ledger_entries_transaction_id", "ledger_entries", ["transaction_id"], unique=False
    )
    op.add_column("staff", sa.Column("npi", sa.String(length=10), nullable=True))
    for statement in (*BALANCED, *APPEND_ONLY):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_entries_append_only ON ledger_entries")
    op.execute("DROP TRIGGER ledger_entries_balanced ON ledger_entries")
    op.drop_column("staff", "npi")
    op.drop_index("ix_ledger_entries_transaction_id", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_patient_id_account_id", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_invoice_id", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.execute("DROP FUNCTION ledger_entries_append_only()")
    op.execute("DROP FUNCTION ledger_transaction_balanced()")
    op.drop_index("ix_ledger_transactions_payment_id", table_name="ledger_transactions")
    op.drop_index("ix_ledger_transactions_invoice_id", table_name="ledger_transactions")
    op.drop_table("ledger_transactions")
    op.drop_index("ix_refunds_payment_id", table_name="refunds")
    op.drop_table("refunds")
    op.drop_index("ix_payment_allocations_invoice_id", table_name="payment_allocations")
    op.drop_table("payment_allocations")
    op.drop_index("uq_invoice_lines_invoice_id_position", table_name="invoice_lines")
    op.drop_table("invoice_lines")
    op.drop_index("ix_payments_patient_id_id", table_name="payments")
    op.drop_table("payments")
    op.drop_index("uq_invoices_year_sequence", table_name="invoices")
    op.drop_index("uq_invoices_number", table_name="invoices")
    op.drop_index(
        "uq_invoices_appointment_id_kind",
        table_name="invoices",
        postgresql_where=sa.text("appointment_id IS NOT NULL AND status <> 'void'"),
    )
    op.drop_index("ix_invoices_status_id", table_name="invoices")
    op.drop_index("ix_invoices_patient_id_id", table_name="invoices")
    op.drop_table("invoices")
    op.drop_index(
        "uq_payment_methods_default",
        table_name="payment_methods",
        postgresql_where=sa.text("is_default AND removed_at IS NULL"),
    )
    op.drop_index("ix_payment_methods_patient_id", table_name="payment_methods")
    op.drop_table("payment_methods")
    op.drop_table("processor_customers")
    op.drop_table("patient_diagnoses")
    op.drop_table("card_setups")
    op.drop_table("processor_events")
    op.drop_table("invoice_counters")

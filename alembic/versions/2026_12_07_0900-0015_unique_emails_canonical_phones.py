"""An e-mail address names one account; phone numbers in one canonical form (E.164).

- Phone numbers, the patients' and their history's, become canonical (app.core.phones, with
  PHONE_DEFAULT_REGION). Numbers that would then be one are left as they were, never merged:
  their patients' ids are reported (a warning here, and `python -m app identity-clashes`).
- Patients' e-mail addresses are unique whatever their case: uq_patients_lower_email on
  (lower(email), patients_email_exemption(id)). The function is '' for every patient but those
  who shared an address with another before this migration (all of each group but its earliest
  created): their ids are written into it, so those rows stay as they were, reported, and no
  other patient can take their address. Its leading column still serves the login's lookup.
- A patient and a staff member never share an address (the login and the reset find an account
  by it): a trigger on both tables, serialised by an advisory lock, refuses it.
  Pairs that share one already are reported and left.

The downgrade removes the index, the function and the triggers; numbers stay canonical (what
was typed is not kept, and the canonical form passes the old rule too).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 09:00:00
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.core.phones import canonical_forms, canonical_phone

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

EXEMPTION = """
CREATE OR REPLACE FUNCTION patients_email_exemption(patient_id varchar) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN patient_id = ANY ({ids}::text[]) THEN patient_id ELSE '' END
$$
"""
ACCOUNT_EMAIL = """
CREATE FUNCTION account_email_unique() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND lower(NEW.email) IS NOT DISTINCT FROM lower(OLD.email) THEN
        RETURN NEW;
    END IF;
    -- A patient's write and a staff member's are serialised, so the later one checks after
    -- the earlier has committed: patients' writes share the lock (one per transaction, however
    -- many rows: they never wait for each other), a staff member's (rare) takes it alone.
    IF TG_TABLE_NAME = 'patients' THEN
        PERFORM pg_advisory_xact_lock_shared(hashtextextended('account_email', 0));
    ELSE
        PERFORM pg_advisory_xact_lock(hashtextextended('account_email', 0));
    END IF;
    IF TG_TABLE_NAME = 'patients' THEN
        IF EXISTS (SELECT 1 FROM staff WHERE lower(email) = lower(NEW.email)) THEN
            RAISE EXCEPTION 'a staff member has this e-mail address'
                USING ERRCODE = 'unique_violation', CONSTRAINT = 'uq_accounts_email_staff';
        END IF;
    ELSIF EXISTS (SELECT 1 FROM patients WHERE lower(email) = lower(NEW.email)) THEN
        RAISE EXCEPTION 'a patient has this e-mail address'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'uq_accounts_email_patient';
    END IF;
    RETURN NEW;
END
$$
"""
TABLES = ("patients", "staff")


def upgrade() -> None:
    connection = op.get_bind()
    _canonical_phones(connection)
    exempt = _email_clashes(connection)
    ids = "ARRAY[" + ", ".join(f"'{patient_id}'" for patient_id in exempt) + "]"
    op.execute(EXEMPTION.format(ids=ids))
    op.drop_index("ix_patients_lower_email", table_name="patients")
    op.create_index(
        "uq_patients_lower_email",
        "patients",
        [sa.text("lower(email)"), sa.text("patients_email_exemption(id)")],
        unique=True,
    )
    op.execute(ACCOUNT_EMAIL)
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_account_email BEFORE INSERT OR UPDATE OF email ON {table} "
            "FOR EACH ROW WHEN (NEW.email IS NOT NULL) EXECUTE FUNCTION account_email_unique()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_account_email ON {table}")
    op.execute("DROP FUNCTION account_email_unique()")
    op.drop_index("uq_patients_lower_email", table_name="patients")
    op.execute("DROP FUNCTION patients_email_exemption(varchar)")
    op.create_index("ix_patients_lower_email", "patients", [sa.text("lower(email)")])


def _canonical_phones(connection: sa.Connection) -> None:
    rows = connection.execute(sa.text("SELECT id, phone_no FROM patients")).all()
    changes, clashes = canonical_forms((row.id, row.phone_no) for row in rows)
    for group in clashes:
        log.warning("Phone numbers one once canonical, left as they were: %s", ", ".join(group))
    clashing = sorted({patient_id for group in clashes for patient_id in group})
    # The history follows, so that restoring a version brings back a canonical number.
    history = connection.execute(
        sa.text("SELECT DISTINCT phone_no FROM patient_versions")
    ).scalars()
    moved = {number: canonical_phone(number) for number in history}
    # One UPDATE a table, joined to the numbers' new forms (no scan per number).
    connection.execute(
        sa.text("CREATE TEMPORARY TABLE canonical_phones (old text, new text) ON COMMIT DROP")
    )
    pairs = [(old, new) for old, new in moved.items() if old != new]
    if pairs:
        connection.execute(
            sa.text("INSERT INTO canonical_phones VALUES (:old, :new)"),
            [{"old": old, "new": new} for old, new in pairs],
        )
        connection.execute(
            sa.text(
                "UPDATE patient_versions v SET phone_no = c.new FROM canonical_phones c "
                "WHERE v.phone_no = c.old AND NOT v.patient_id = ANY(:clashing)"
            ),
            {"clashing": clashing},
        )
    connection.execute(sa.text("TRUNCATE canonical_phones"))
    if changes:
        connection.execute(
            sa.text("INSERT INTO canonical_phones VALUES (:old, :new)"),
            [{"old": patient_id, "new": number} for patient_id, number in changes.items()],
        )
        connection.execute(
            sa.text(
                "UPDATE patients p SET phone_no = c.new FROM canonical_phones c WHERE p.id = c.old"
            )
        )


def _email_clashes(connection: sa.Connection) -> list[str]:
    """Report the patients who share an address, and those who share one with a staff member;
    the ids the unique index exempts (every patient of a group but its earliest created)."""
    groups = connection.execute(
        sa.text(
            "SELECT array_agg(id ORDER BY created_at, id) AS ids FROM patients "
            "WHERE email IS NOT NULL GROUP BY lower(email) HAVING count(*) > 1 ORDER BY 1"
        )
    ).all()
    for group in groups:
        log.warning(
            "Patients sharing an e-mail address, left as they were: %s", ", ".join(group.ids)
        )
    shared = connection.execute(
        sa.text(
            "SELECT patients.id AS patient, staff.id AS staff FROM patients "
            "JOIN staff ON lower(staff.email) = lower(patients.email) ORDER BY 1, 2"
        )
    ).all()
    for row in shared:
        log.warning(
            "Patient %s shares an e-mail address with staff member %s, left as they were",
            row.patient,
            row.staff,
        )
    return [patient_id for group in groups for patient_id in group.ids[1:]]

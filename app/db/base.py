import re
from datetime import datetime

from sqlalchemy import MetaData, func
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now(), nullable=False
    )


# Trigram indexes for the list's substring filters (pg_trgm GIN), made by migration 0004; the
# models leave them out, as autogenerate cannot compare an operator class.
TRIGRAM_INDEXES = {
    f"ix_patients_{column}_trgm": column
    for column in ("first_name", "last_name", "phone_no", "email")
}


# The monthly partitions of audit_events and its default partition (migration 0006 and
# app.audit.partitions make them), and months archived with --keep-table: the models know only
# the partitioned table.
AUDIT_PARTITION_TABLE = re.compile(r"audit_events_(?:\d{4}_\d{2}|default)")


def include_in_comparison(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object | None
) -> bool:
    """For Alembic's autogenerate: the optional trigram indexes and the audit trail's
    partitions are not drift."""
    if type_ == "table" and reflected and AUDIT_PARTITION_TABLE.fullmatch(name or ""):
        return False
    return not (type_ == "index" and reflected and name in TRIGRAM_INDEXES)

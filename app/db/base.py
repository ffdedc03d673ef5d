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


# Trigram indexes for the list's substring filters, made by migration 0004 only where the server
# has pg_trgm (the embedded PostgreSQL may not), so they are not part of the models.
TRIGRAM_INDEXES = {
    f"ix_patients_{column}_trgm": column
    for column in ("first_name", "last_name", "phone_no", "email")
}


def include_in_comparison(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object | None
) -> bool:
    """For Alembic's autogenerate: the optional trigram indexes are not drift."""
    return not (type_ == "index" and reflected and name in TRIGRAM_INDEXES)

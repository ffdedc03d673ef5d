"""What the practice bills: its billable services (a code such as CPT 90834, a name, a duration
and a price, in the one CURRENCY of the settings), kept by admins; and each patient's sliding
scale, the share of a service's price they pay."""

import re
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin
from app.models.patient import WALLET_MAX

CODE_MAX_LENGTH = 16
CODE_RE = re.compile(rf"[A-Za-z0-9.-]{{1,{CODE_MAX_LENGTH}}}")
NAME_MAX_LENGTH = 100
DURATION_MIN, DURATION_MAX = 5, 480  # minutes
# A price is paid from the wallet, so it is never more than a wallet holds.
PRICE_MAX = WALLET_MAX
PERCENT_MIN, PERCENT_MAX = 1, 100
SCALE_REASON_MAX_LENGTH = 250


class BillableService(TimestampMixin, Base):
    __tablename__ = "billable_services"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_MAX_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    # Set by a DELETE: the service is gone from the API, and kept, since the invoices that name
    # it keep naming it. Its code is free for a new service.
    deleted_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        CheckConstraint(f"code ~ '^{CODE_RE.pattern}$'", name="code_format"),
        CheckConstraint(
            f"duration_minutes BETWEEN {DURATION_MIN} AND {DURATION_MAX}",
            name="duration_minutes_range",
        ),
        CheckConstraint(f"price BETWEEN 0 AND {PRICE_MAX}", name="price_range"),
        Index(
            "uq_billable_services_code",
            "code",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )


class SlidingScale(Base):
    """A patient's sliding scale: the percent of a service's price they pay (100 is the full
    price), set by staff with a reason. At most one per patient; none is the full price."""

    __tablename__ = "sliding_scales"

    patient_id: Mapped[str] = mapped_column(
        String(9), ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    percent: Mapped[int] = mapped_column(SmallInteger)
    reason: Mapped[str] = mapped_column(String(SCALE_REASON_MAX_LENGTH))
    set_by: Mapped[str] = mapped_column(String(160))
    set_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(f"percent BETWEEN {PERCENT_MIN} AND {PERCENT_MAX}", name="percent_range"),
    )

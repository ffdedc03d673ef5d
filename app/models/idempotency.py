from datetime import datetime
from typing import Any

from sqlalchemy import SmallInteger, String, func
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.types import EncryptedText

KEY_MAX_LENGTH = 255


class IdempotentResponse(Base):
    """The response to a POST sent with an Idempotency-Key, replayed to the same caller's retries.
    The body holds patient data, so it is encrypted like the patient's own PHI."""

    __tablename__ = "idempotent_responses"

    caller: Mapped[str] = mapped_column(String(170), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(SmallInteger)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    body: Mapped[str] = mapped_column(EncryptedText("idempotent_responses.body"))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now(), index=True
    )

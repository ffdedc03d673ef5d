"""The documents' JSON shapes; every rule of a document's fields lives here once."""

from datetime import datetime
from typing import Annotated, ClassVar, Literal, Self, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from app.core.fields import Text
from app.models.document import REASON_MAX_LENGTH, TITLE_MAX_LENGTH


# The rows its statements return: TypedDicts, checked against each statement when it is
# compiled (app.db.query).
class DocumentRow(TypedDict):
    """A document's row: its metadata, and where and under which key its bytes are sealed."""

    id: int
    patient_id: str
    appointment_id: int | None
    title: str
    category: str
    content_type: str
    size: int
    sha256: str
    storage_name: str
    key_id: str
    withheld: bool
    withheld_reason: str | None
    uploaded_by: str
    version: int
    created_at: datetime
    updated_at: datetime


class StorageNameRow(TypedDict):
    storage_name: str


class AppointmentPatientRow(TypedDict):
    patient_id: str


Category = Literal["consent", "referral", "intake", "other"]
ContentType = Literal["application/pdf", "image/jpeg", "image/png", "image/webp"]
Title = Annotated[Text, Field(min_length=1, max_length=TITLE_MAX_LENGTH)]
WithheldReason = Annotated[Text, Field(max_length=REASON_MAX_LENGTH)]


class DocumentRead(BaseModel):
    """A document's metadata; its bytes are at `…/download/`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 17,
                    "title": "Signed consent form",
                    "category": "consent",
                    "appointment": 123,
                    "content_type": "application/pdf",
                    "size": 48213,
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "withheld": True,
                    "withheld_reason": "Third-party information.",
                    "uploaded_by": "dr.rivera",
                    "created_at": "2026-12-04T15:00:00Z",
                    "updated_at": "2026-12-04T15:00:00Z",
                }
            ]
        }
    )

    list_path: ClassVar[str] = "/api/patients/p_a1b2c3/documents/"

    id: int
    title: str
    category: Category
    appointment: int | None = Field(description="The appointment it belongs to, if any.")
    content_type: ContentType = Field(description="Sniffed from the bytes, never the client's.")
    size: int = Field(description="Bytes.")
    sha256: str = Field(description="Hex SHA-256 of the bytes as uploaded.")
    withheld: bool = Field(description="Hidden from the patient (staff only see this true).")
    withheld_reason: str | None
    uploaded_by: str = Field(description="A staff username, or the patient's id.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: DocumentRow) -> Self:
        return cls(
            id=row["id"],
            title=row["title"],
            category=row["category"],
            appointment=row["appointment_id"],
            content_type=row["content_type"],
            size=row["size"],
            sha256=row["sha256"],
            withheld=row["withheld"],
            withheld_reason=row["withheld_reason"],
            uploaded_by=row["uploaded_by"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class DocumentUpdate(BaseModel):
    """Any subset of the fields; `withheld: true` needs a `withheld_reason`, `false` clears it."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"withheld": True, "withheld_reason": "Third-party information."}]
        },
    )

    title: Title | None = None
    category: Category | None = None
    withheld: bool | None = None
    withheld_reason: WithheldReason | None = None

    def changes(self) -> dict[str, object]:
        """The columns to write: the sent fields, a title trimmed, a reason dropped with
        `withheld: false`."""
        sent = self.model_dump(exclude_unset=True)
        changes: dict[str, object] = {}
        for field in ("title", "category", "withheld"):
            if sent.get(field) is not None:
                changes[field] = sent[field]
        if sent.get("withheld") is False:
            changes["withheld_reason"] = None
        elif "withheld_reason" in sent:
            reason = (sent["withheld_reason"] or "").strip()
            changes["withheld_reason"] = reason or None
        return changes

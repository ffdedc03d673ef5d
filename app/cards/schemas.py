"""What the cards' endpoints read and answer, and the rows their statements return."""

from datetime import datetime
from typing import Annotated, Any, ClassVar, TypedDict

from pydantic import AfterValidator, ConfigDict, Field, StrictBool

from app.core.schemas import BaseSchema


# The rows its statements return: TypedDicts, checked against each statement when it is
# compiled (app.db.query).
class CardRow(TypedDict):
    id: int
    patient_id: str
    processor_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    is_default: bool
    created_at: datetime
    removed_at: datetime | None


class CardSetupRow(TypedDict):
    id: int
    patient_id: str
    setup_intent_id: str
    consent_text: str
    consent_by: str
    consent_by_kind: str
    consent_at: datetime
    completed_at: datetime | None


class CustomerRow(TypedDict):
    """A patient (not deleted) and their customer at the processor, if they have one yet."""

    customer_id: str | None


class AutopayRow(TypedDict):
    autopay: bool
    autopay_changed_at: datetime | None
    autopay_changed_by: str | None


class PatientFoundRow(TypedDict):
    found: bool


CONSENT_REQUIRED = "The patient's consent to off-session charges is required: send true."


def _consented(value: bool) -> bool:
    if value is not True:
        raise ValueError(CONSENT_REQUIRED)
    return value


CONSENT_TEXT = "I authorise Sunrise Therapy to keep this card on file and to charge it …"
CONSENT: dict[str, Any] = {"text": CONSENT_TEXT}
CONSENT_GIVEN: dict[str, Any] = {
    "text": CONSENT_TEXT,
    "given_by": "p_zxcp0h",
    "given_by_kind": "patient",
    "given_at": "2026-12-01T09:30:00.120000Z",
}
CARD_SETUP_CREATE: dict[str, Any] = {"consent": True}
CARD_SETUP: dict[str, Any] = {
    "setup_intent": "seti_1QfA2bC3dE4fG5hI",
    "client_secret": "seti_1QfA2bC3dE4fG5hI_secret_Rk7TuVwXyZ",
    "consent": CONSENT_GIVEN,
}
CARD: dict[str, Any] = {
    "id": 7,
    "processor_id": "pm_1QfA2bC3dE4fG5hI",
    "brand": "visa",
    "last4": "4242",
    "exp_month": 12,
    "exp_year": 2034,
    "is_default": True,
    "created_at": "2026-12-01T09:31:00.120000Z",
}
AUTOPAY_SET: dict[str, Any] = {"enabled": True}
AUTOPAY: dict[str, Any] = {
    "enabled": True,
    "changed_by": "p_zxcp0h",
    "changed_at": "2026-12-01T09:32:00.120000Z",
}


class ConsentRead(BaseSchema):
    """The text a patient agrees to when they save a card: show it as it is."""

    model_config = ConfigDict(json_schema_extra={"examples": [CONSENT]})

    text: str = Field(
        description="The consent to off-session charges, naming the practice (PRACTICE_NAME)."
    )


class ConsentGiven(BaseSchema):
    """The consent recorded with a card's setup: the text, who gave it and when."""

    model_config = ConfigDict(json_schema_extra={"examples": [CONSENT_GIVEN]})

    text: str
    given_by: str = Field(description="The patient's id, or the staff member's username.")
    given_by_kind: str = Field(description="`patient` or `staff`.", examples=["patient"])
    given_at: datetime

    @classmethod
    def of(cls, row: CardSetupRow) -> "ConsentGiven":
        return cls(
            text=row["consent_text"],
            given_by=row["consent_by"],
            given_by_kind=row["consent_by_kind"],
            given_at=row["consent_at"],
        )


class CardSetupCreate(BaseSchema):
    """The patient's consent to the text of `GET …/payment-methods/consent/`."""

    model_config = ConfigDict(json_schema_extra={"examples": [CARD_SETUP_CREATE]})

    consent: Annotated[StrictBool, AfterValidator(_consented)] = Field(
        description="true: the patient agrees to the consent text (anything else is a 400)."
    )


class CardSetupRead(BaseSchema):
    """A SetupIntent to confirm with Stripe.js (`stripe.confirmCardSetup(client_secret, …)`),
    then to complete here (`POST …/setup/{setup_intent}/complete/`)."""

    model_config = ConfigDict(json_schema_extra={"examples": [CARD_SETUP]})

    setup_intent: str = Field(description="The SetupIntent's id at the processor.")
    client_secret: str = Field(
        description="For Stripe.js only: never stored by the service, never logged."
    )
    consent: ConsentGiven


class CardRead(BaseSchema):
    """A card on file: the processor's id, the brand, the last 4 digits and the expiry."""

    model_config = ConfigDict(json_schema_extra={"examples": [CARD]})
    list_path: ClassVar[str] = "/api/patients/p_zxcp0h/payment-methods/"

    id: int
    processor_id: str = Field(
        description="The PaymentMethod's id at the processor (pm_…): not a secret; Stripe.js "
        "takes it to pay with this card on session."
    )
    brand: str = Field(examples=["visa"])
    last4: str = Field(examples=["4242"])
    exp_month: int
    exp_year: int
    is_default: bool = Field(description="The card autopay and staff charges use.")
    created_at: datetime


class AutopaySet(BaseSchema):
    """Autopay on or off."""

    model_config = ConfigDict(json_schema_extra={"examples": [AUTOPAY_SET]})

    enabled: StrictBool = Field(
        description="true: open invoices are charged to the default card (one is needed)."
    )


class AutopayRead(BaseSchema):
    """Whether the patient's open invoices are charged to their default card, and who chose."""

    model_config = ConfigDict(json_schema_extra={"examples": [AUTOPAY]})

    enabled: bool
    changed_by: str | None = Field(
        description="Who last turned it on or off (a patient's id or a username); null: never."
    )
    changed_at: datetime | None

    @classmethod
    def of(cls, row: AutopayRow | None) -> "AutopayRead":
        if row is None:
            return cls(enabled=False, changed_by=None, changed_at=None)
        return cls(
            enabled=row["autopay"],
            changed_by=row["autopay_changed_by"],
            changed_at=row["autopay_changed_at"],
        )

"""The SQL of cards on file: the patient's customer at the processor (taken under a row lock by
every write of their cards, so that concurrent writes of one patient's cards run one after the
other), the setups begun with their consent, the cards, and autopay."""

from typing import cast

from sqlalchemy import (
    Boolean,
    String,
    Table,
    bindparam,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.cards.schemas import (
    AutopayRow,
    CardRow,
    CardSetupRow,
    CustomerRow,
    PatientFoundRow,
)
from app.db.query import Executor, NoRow, Query
from app.models.patient import Patient, kept
from app.models.payments import CardSetup, PaymentMethod, ProcessorCustomer

CUSTOMERS = cast(Table, ProcessorCustomer.__table__)
SETUPS = cast(Table, CardSetup.__table__)
CARDS = cast(Table, PaymentMethod.__table__)
PATIENTS = cast(Table, Patient.__table__)

_PATIENT = bindparam("patient_id", type_=String)
_CARD_COLUMNS = (
    CARDS.c.id,
    CARDS.c.patient_id,
    CARDS.c.processor_id,
    CARDS.c.brand,
    CARDS.c.last4,
    CARDS.c.exp_month,
    CARDS.c.exp_year,
    CARDS.c.is_default,
    CARDS.c.created_at,
    CARDS.c.removed_at,
)
_KEPT_CARD = (CARDS.c.patient_id == _PATIENT, CARDS.c.removed_at.is_(None))

_PATIENT_FOUND = Query(
    select(literal(True).label("found")).where(
        PATIENTS.c.id == _PATIENT, PATIENTS.c.deleted_at.is_(None)
    ),
    PatientFoundRow,
)

# The patient's customer row, made (without a customer yet) if there is none, and locked until
# the work commits; no row when the patient is not there or is deleted.
_made = pg_insert(CUSTOMERS).from_select(["patient_id"], select(_PATIENT).where(kept(_PATIENT)))
_LOCK_CUSTOMER = Query(
    _made.on_conflict_do_update(
        index_elements=[CUSTOMERS.c.patient_id],
        set_={"customer_id": CUSTOMERS.c.customer_id},
    ).returning(CUSTOMERS.c.customer_id),
    CustomerRow,
)
_SET_CUSTOMER = Query(
    update(CUSTOMERS)
    .where(CUSTOMERS.c.patient_id == _PATIENT)
    .values(customer_id=bindparam("customer_id", type_=String))
    .returning(CUSTOMERS.c.customer_id),
    CustomerRow,
)

_INSERT_SETUP = Query(
    pg_insert(SETUPS)
    .values(
        patient_id=_PATIENT,
        setup_intent_id=bindparam("setup_intent_id"),
        consent_text=bindparam("consent_text"),
        consent_by=bindparam("consent_by"),
        consent_by_kind=bindparam("consent_by_kind"),
    )
    .returning(*SETUPS.c),
    CardSetupRow,
)
_SETUP_INTENT = bindparam("setup_intent_id", type_=String)
_SETUP = Query(select(*SETUPS.c).where(SETUPS.c.setup_intent_id == _SETUP_INTENT), CardSetupRow)
_PATIENTS_SETUP = Query(
    select(*SETUPS.c).where(
        SETUPS.c.setup_intent_id == _SETUP_INTENT,
        SETUPS.c.patient_id == _PATIENT,
        kept(SETUPS.c.patient_id),
    ),
    CardSetupRow,
)
_SETUP_COMPLETED = Query(
    update(SETUPS)
    .where(SETUPS.c.id == bindparam("setup_id"), SETUPS.c.completed_at.is_(None))
    .values(completed_at=func.now()),
    NoRow,
)

# A patient's first card (none kept as the default) becomes the default. Run under the
# customer's lock: two first cards at once cannot both see no default.
_has_default = exists().where(*_KEPT_CARD, CARDS.c.is_default)
_INSERT_CARD = Query(
    pg_insert(CARDS)
    .from_select(
        [
            "patient_id",
            "processor_id",
            "setup_id",
            "brand",
            "last4",
            "exp_month",
            "exp_year",
            "is_default",
        ],
        select(
            _PATIENT,
            bindparam("processor_id", type_=String),
            bindparam("setup_id", type_=CARDS.c.setup_id.type),
            bindparam("brand", type_=String),
            bindparam("last4", type_=String),
            bindparam("exp_month", type_=CARDS.c.exp_month.type),
            bindparam("exp_year", type_=CARDS.c.exp_year.type),
            not_(_has_default),
        ),
    )
    .on_conflict_do_nothing(index_elements=[CARDS.c.processor_id])
    .returning(*_CARD_COLUMNS),
    CardRow,
)
_PROCESSOR_ID = bindparam("processor_id", type_=String)
_CARD_BY_PROCESSOR_ID = Query(
    select(*_CARD_COLUMNS).where(CARDS.c.processor_id == _PROCESSOR_ID), CardRow
)
_CARDS = Query(
    select(*_CARD_COLUMNS)
    .where(*_KEPT_CARD)
    .order_by(CARDS.c.is_default.desc(), CARDS.c.created_at, CARDS.c.id),
    CardRow,
)
_THIS_CARD = (CARDS.c.id == bindparam("method_id"), *_KEPT_CARD, kept(CARDS.c.patient_id))
_CARD = Query(select(*_CARD_COLUMNS).where(*_THIS_CARD), CardRow)
_REMOVE = Query(
    update(CARDS)
    .where(*_THIS_CARD)
    .values(removed_at=func.now(), is_default=False)
    .returning(*_CARD_COLUMNS),
    CardRow,
)
_DETACHED = Query(
    update(CARDS)
    .where(CARDS.c.processor_id == _PROCESSOR_ID, CARDS.c.removed_at.is_(None))
    .values(removed_at=func.now(), is_default=False)
    .returning(*_CARD_COLUMNS),
    CardRow,
)
# Two statements, not one: PostgreSQL checks a unique index row by row, so one UPDATE that
# sets the new default before it clears the old one would break the index.
_CLEAR_DEFAULT = Query(
    update(CARDS)
    .where(*_KEPT_CARD, CARDS.c.is_default, CARDS.c.id != bindparam("method_id"))
    .values(is_default=False),
    NoRow,
)
_SET_DEFAULT = Query(
    update(CARDS).where(*_THIS_CARD).values(is_default=True).returning(*_CARD_COLUMNS),
    CardRow,
)

_AUTOPAY_COLUMNS = (
    func.coalesce(CUSTOMERS.c.autopay, False).label("autopay"),
    CUSTOMERS.c.autopay_changed_at,
    CUSTOMERS.c.autopay_changed_by,
)
_GET_AUTOPAY = Query(
    select(*_AUTOPAY_COLUMNS)
    .select_from(PATIENTS.outerjoin(CUSTOMERS, CUSTOMERS.c.patient_id == PATIENTS.c.id))
    .where(PATIENTS.c.id == _PATIENT, PATIENTS.c.deleted_at.is_(None)),
    AutopayRow,
)
_ENABLED = bindparam("enabled", type_=Boolean)
_CHANGED_BY = bindparam("changed_by", type_=String)
# Turned on only while the patient has a default card; off at any time.
_chosen = pg_insert(CUSTOMERS).from_select(
    ["patient_id", "autopay", "autopay_changed_at", "autopay_changed_by"],
    select(_PATIENT, _ENABLED, func.now(), _CHANGED_BY).where(
        kept(_PATIENT), or_(not_(_ENABLED), _has_default)
    ),
)
_SET_AUTOPAY = Query(
    _chosen.on_conflict_do_update(
        index_elements=[CUSTOMERS.c.patient_id],
        set_={
            "autopay": _chosen.excluded.autopay,
            "autopay_changed_at": _chosen.excluded.autopay_changed_at,
            "autopay_changed_by": _chosen.excluded.autopay_changed_by,
        },
    ).returning(
        CUSTOMERS.c.autopay, CUSTOMERS.c.autopay_changed_at, CUSTOMERS.c.autopay_changed_by
    ),
    AutopayRow,
)


class CardRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def patient_found(self, patient_id: str) -> bool:
        """Whether the patient is there and not deleted."""
        return await self.executor.fetch_one(_PATIENT_FOUND, patient_id=patient_id) is not None

    async def lock_customer(self, patient_id: str) -> CustomerRow | None:
        """The patient's customer row, made if need be and locked till the work commits (in a
        transaction); None when the patient is not there."""
        return await self.executor.fetch_one(_LOCK_CUSTOMER, patient_id=patient_id)

    async def set_customer(self, patient_id: str, customer_id: str) -> None:
        await self.executor.fetch_one(_SET_CUSTOMER, patient_id=patient_id, customer_id=customer_id)

    async def insert_setup(
        self, patient_id: str, setup_intent_id: str, consent_text: str, by: str, by_kind: str
    ) -> CardSetupRow | None:
        return await self.executor.fetch_one(
            _INSERT_SETUP,
            patient_id=patient_id,
            setup_intent_id=setup_intent_id,
            consent_text=consent_text,
            consent_by=by,
            consent_by_kind=by_kind,
        )

    async def setup(self, setup_intent_id: str) -> CardSetupRow | None:
        return await self.executor.fetch_one(_SETUP, setup_intent_id=setup_intent_id)

    async def patients_setup(self, patient_id: str, setup_intent_id: str) -> CardSetupRow | None:
        """The setup, if it is this patient's (and they are not deleted)."""
        return await self.executor.fetch_one(
            _PATIENTS_SETUP, patient_id=patient_id, setup_intent_id=setup_intent_id
        )

    async def setup_completed(self, setup_id: int) -> None:
        await self.executor.fetch(_SETUP_COMPLETED, setup_id=setup_id)

    async def insert_card(
        self,
        *,
        patient_id: str,
        processor_id: str,
        setup_id: int | None,
        brand: str,
        last4: str,
        exp_month: int,
        exp_year: int,
    ) -> CardRow | None:
        """The card added; None when a card with this processor id is there already."""
        return await self.executor.fetch_one(
            _INSERT_CARD,
            patient_id=patient_id,
            processor_id=processor_id,
            setup_id=setup_id,
            brand=brand,
            last4=last4,
            exp_month=exp_month,
            exp_year=exp_year,
        )

    async def card_by_processor_id(self, processor_id: str) -> CardRow | None:
        return await self.executor.fetch_one(_CARD_BY_PROCESSOR_ID, processor_id=processor_id)

    async def cards(self, patient_id: str) -> list[CardRow]:
        """The patient's cards not removed, the default first, then by age."""
        return await self.executor.fetch(_CARDS, patient_id=patient_id)

    async def card(self, patient_id: str, method_id: int) -> CardRow | None:
        return await self.executor.fetch_one(_CARD, patient_id=patient_id, method_id=method_id)

    async def remove(self, patient_id: str, method_id: int) -> CardRow | None:
        return await self.executor.fetch_one(_REMOVE, patient_id=patient_id, method_id=method_id)

    async def detached(self, processor_id: str) -> CardRow | None:
        """The card removed because the processor detached it; None when none was kept."""
        return await self.executor.fetch_one(_DETACHED, processor_id=processor_id)

    async def clear_default(self, patient_id: str, but: int) -> None:
        await self.executor.fetch(_CLEAR_DEFAULT, patient_id=patient_id, method_id=but)

    async def set_default(self, patient_id: str, method_id: int) -> CardRow | None:
        return await self.executor.fetch_one(
            _SET_DEFAULT, patient_id=patient_id, method_id=method_id
        )

    async def autopay(self, patient_id: str) -> AutopayRow | None:
        """None when the patient is not there (a patient without a customer: autopay off)."""
        return await self.executor.fetch_one(_GET_AUTOPAY, patient_id=patient_id)

    async def set_autopay(
        self, patient_id: str, enabled: bool, changed_by: str
    ) -> AutopayRow | None:
        """None when the patient is not there, or autopay is turned on with no default card."""
        return await self.executor.fetch_one(
            _SET_AUTOPAY, patient_id=patient_id, enabled=enabled, changed_by=changed_by
        )

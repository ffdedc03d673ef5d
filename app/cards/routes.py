from fastapi import APIRouter, status

from app.audit.actions import Action
from app.auth.access import StaffOrSelfCaller
from app.cards.dependencies import MethodIdPath, SetupIntentIdPath
from app.cards.schemas import (
    AutopayRead,
    AutopaySet,
    CardRead,
    CardSetupCreate,
    CardSetupRead,
    ConsentGiven,
    ConsentRead,
)
from app.cards.service import CardService
from app.core.dependencies import PageRequestDep, SettingsDep
from app.core.openapi import BODY_ERRORS, COMMON_ERRORS, errors
from app.core.pagination import Page, paginate
from app.db.counting import Count
from app.patients.dependencies import PatientIdPath
from app.processor.dependencies import ProcessorDep
from app.requests.routing import AuditedRoute

router = APIRouter(prefix="/api/patients/{patient_id}", tags=["payments"], route_class=AuditedRoute)
# The processor did not do what was asked (its network, a rate limit, its own error).
PROCESSOR_ERRORS = (502,)


@router.get(
    "/payment-methods/",
    name=Action.LIST_PAYMENT_METHODS,
    response_model=Page[CardRead],
    summary="List a patient's cards",
    response_description="A page of the patient's cards on file, the default first.",
    responses=errors(400, *COMMON_ERRORS, 404),
)
async def list_payment_methods(
    patient_id: PatientIdPath,
    caller: StaffOrSelfCaller,
    page_request: PageRequestDep,
    processor: ProcessorDep,
    settings: SettingsDep,
) -> Page[CardRead]:
    """The patient's cards not removed, the default first, then oldest first (staff, and the
    patient their own). With PAYMENTS_PROVIDER=none no card can be saved: an empty page."""
    rows = await CardService(caller.work, processor, settings).cards_of(patient_id)

    async def count(exact_up_to: int | None) -> Count:
        return Count(total=len(rows), exact=True)

    async def fetch(offset: int, limit: int) -> list[CardRead]:
        return [CardRead.model_validate(row) for row in rows[offset : offset + limit]]

    return await paginate(caller.links, page_request, CardRead, count=count, fetch=fetch)


@router.get(
    "/payment-methods/consent/",
    name=Action.GET_CARD_CONSENT,
    response_model=ConsentRead,
    summary="Read the consent to saving a card",
    response_description="The text the patient agrees to when they save a card.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def get_card_consent(
    patient_id: PatientIdPath,
    caller: StaffOrSelfCaller,
    processor: ProcessorDep,
    settings: SettingsDep,
) -> ConsentRead:
    """The consent to off-session charges, as `POST …/payment-methods/setup/` records it with
    `"consent": true` (staff, and the patient their own): show it before the card form."""
    text = await CardService(caller.work, processor, settings).consent(patient_id)
    return ConsentRead(text=text)


@router.post(
    "/payment-methods/setup/",
    name=Action.CREATE_CARD_SETUP,
    response_model=CardSetupRead,
    status_code=status.HTTP_201_CREATED,
    summary="Begin saving a card",
    response_description="The SetupIntent to confirm with Stripe.js, and the consent recorded.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404, *PROCESSOR_ERRORS),
)
async def create_card_setup(
    patient_id: PatientIdPath,
    payload: CardSetupCreate,
    caller: StaffOrSelfCaller,
    processor: ProcessorDep,
    settings: SettingsDep,
) -> CardSetupRead:
    """A SetupIntent for off-session charges, the patient's consent (`"consent": true`, to the
    text of `GET …/payment-methods/consent/`) recorded with who gave it and when (staff, and the
    patient their own). Stripe.js confirms it with `client_secret`: the card number goes to the
    processor, never here. A 400 when card payments are not enabled (PAYMENTS_PROVIDER=none)."""
    actor = await caller.principal()
    cards = CardService(caller.work, processor, settings)
    setup, client_secret = await cards.setup(patient_id, actor)
    return CardSetupRead(
        setup_intent=setup["setup_intent_id"],
        client_secret=client_secret,
        consent=ConsentGiven.of(setup),
    )


@router.post(
    "/payment-methods/setup/{setup_intent_id}/complete/",
    name=Action.COMPLETE_CARD_SETUP,
    response_model=CardRead,
    summary="Finish saving a card",
    response_description="The card the setup saved.",
    responses=errors(400, *COMMON_ERRORS, 404, *PROCESSOR_ERRORS),
)
async def complete_card_setup(
    patient_id: PatientIdPath,
    setup_intent_id: SetupIntentIdPath,
    caller: StaffOrSelfCaller,
    processor: ProcessorDep,
    settings: SettingsDep,
) -> CardRead:
    """Record the card of a setup Stripe.js confirmed (staff, and the patient their own): a
    setup not begun for this patient is a 404, one not confirmed yet a 400. Again, or after the
    webhook recorded it, it answers the same card. The patient's first card is the default."""
    cards = CardService(caller.work, processor, settings)
    return CardRead.model_validate(await cards.complete(patient_id, setup_intent_id))


@router.delete(
    "/payment-methods/{method_id}/",
    name=Action.DELETE_PAYMENT_METHOD,
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a card",
    response_description="Detached at the processor and removed; no body.",
    responses=errors(400, *COMMON_ERRORS, 404, *PROCESSOR_ERRORS),
)
async def delete_payment_method(
    patient_id: PatientIdPath,
    method_id: MethodIdPath,
    caller: StaffOrSelfCaller,
    processor: ProcessorDep,
    settings: SettingsDep,
) -> None:
    """Detach the card at the processor and remove it (staff, and the patient their own): it is
    charged no more, and if it was the default there is none until one is chosen. Another
    patient's card is a 404."""
    await CardService(caller.work, processor, settings).remove(patient_id, method_id)


@router.post(
    "/payment-methods/{method_id}/default/",
    name=Action.SET_DEFAULT_PAYMENT_METHOD,
    response_model=CardRead,
    summary="Make a card the default",
    response_description="The card, now the default.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def set_default_payment_method(
    patient_id: PatientIdPath,
    method_id: MethodIdPath,
    caller: StaffOrSelfCaller,
    processor: ProcessorDep,
    settings: SettingsDep,
) -> CardRead:
    """Make the card the patient's default, the one autopay charges (staff, and the patient
    their own); the default before it no longer is. Another patient's card is a 404."""
    cards = CardService(caller.work, processor, settings)
    return CardRead.model_validate(await cards.make_default(patient_id, method_id))


@router.get(
    "/autopay/",
    name=Action.GET_AUTOPAY,
    response_model=AutopayRead,
    summary="Read a patient's autopay",
    response_description="Whether autopay is on, and who last turned it on or off.",
    responses=errors(*COMMON_ERRORS, 404),
)
async def get_autopay(
    patient_id: PatientIdPath,
    caller: StaffOrSelfCaller,
    processor: ProcessorDep,
    settings: SettingsDep,
) -> AutopayRead:
    """Whether the patient's open invoices are charged to their default card (staff, and the
    patient their own); off until someone turns it on."""
    return AutopayRead.of(await CardService(caller.work, processor, settings).autopay(patient_id))


@router.put(
    "/autopay/",
    name=Action.SET_AUTOPAY,
    response_model=AutopayRead,
    summary="Turn a patient's autopay on or off",
    response_description="Autopay as set, with who set it and when.",
    responses=errors(*BODY_ERRORS, *COMMON_ERRORS, 404),
)
async def set_autopay(
    patient_id: PatientIdPath,
    payload: AutopaySet,
    caller: StaffOrSelfCaller,
    processor: ProcessorDep,
    settings: SettingsDep,
) -> AutopayRead:
    """Turn autopay on or off (staff, and the patient their own). On needs a default card (else
    a 400 on `enabled`) and card payments enabled; off is always allowed."""
    actor = await caller.principal()
    cards = CardService(caller.work, processor, settings)
    return AutopayRead.of(await cards.set_autopay(patient_id, payload.enabled, actor))

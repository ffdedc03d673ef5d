"""Raising a safety alert: the API calls it in the transaction that stores the response, so the
alert and the mail that tells the therapist (a `notify` row of the outbox, alert_notices) exist
together with the response or not at all. The worker (app.measures.worker) sends that mail, and
escalates to every admin what nobody acknowledged in time."""

from app.db.query import Executor
from app.measures.outbox_repository import MeasureOutbox


async def raise_alert(
    executor: Executor,
    *,
    response_id: int,
    patient_id: str,
    rule: str,
    therapist_id: int | None,
    escalate_minutes: int,
) -> int:
    """Insert the alert of `rule` met by the response, and its `notify` notice to the treating
    therapist; the alert's id. It escalates after `escalate_minutes`
    (SAFETY_ALERT_ESCALATE_MINUTES) unless acknowledged, and at once when there is no therapist
    to tell. One alert per response and rule (a second is a unique violation)."""
    return await MeasureOutbox(executor).raise_alert(
        response_id=response_id,
        patient_id=patient_id,
        rule=rule,
        therapist_id=therapist_id,
        escalate_minutes=escalate_minutes if therapist_id is not None else 0,
    )

"""raise_alert: the alert and its therapist's mail in the outbox, in the caller's transaction."""

from datetime import timedelta

import pytest

from app.measures.alerts import raise_alert
from tests.measures.conftest import new_alert
from tests.reminders.conftest import Clinic


async def test_an_alert_and_its_notify_notice_are_made_together(clinic: Clinic):
    alert = await new_alert(clinic, clinic.therapist_id, escalate_minutes=45)
    row = await clinic.row(
        "SELECT a.status, a.therapist_id, a.escalated_at, a.escalate_at - a.created_at AS wait,"
        " n.kind, n.staff_id, n.status AS notice FROM safety_alerts a"
        " JOIN alert_notices n ON n.alert_id = a.id WHERE a.id = $1",
        alert,
    )
    assert row == {
        "status": "open",
        "therapist_id": clinic.therapist_id,
        "escalated_at": None,
        "wait": timedelta(minutes=45),
        "kind": "notify",
        "staff_id": clinic.therapist_id,
        "notice": "pending",
    }


async def test_an_alert_without_a_therapist_is_due_to_escalate_at_once(clinic: Clinic):
    alert = await new_alert(clinic, None, escalate_minutes=45)
    row = await clinic.row(
        "SELECT escalate_at = created_at AS now FROM safety_alerts WHERE id = $1", alert
    )
    assert row == {"now": True}
    assert await clinic.value("SELECT count(*) FROM alert_notices") == 0


async def test_a_rolled_back_response_leaves_no_alert_and_no_notice(clinic: Clinic):
    await new_alert(clinic, clinic.therapist_id)
    response_id = await clinic.value("SELECT id FROM measure_responses")

    class Abandoned(Exception):
        pass

    async def respond_then_fail() -> None:
        async with clinic.database.transaction() as transaction:
            await raise_alert(
                transaction,
                response_id=response_id,
                patient_id=clinic.patient_id,
                rule="another_rule",
                therapist_id=clinic.therapist_id,
                escalate_minutes=60,
            )
            raise Abandoned

    with pytest.raises(Abandoned):
        await respond_then_fail()
    assert await clinic.value("SELECT count(*) FROM safety_alerts") == 1
    assert await clinic.value("SELECT count(*) FROM alert_notices") == 1

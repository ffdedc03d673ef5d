"""Every change of an appointment's status, legal and illegal, by each role that may make it.

The table below is the contract's (README, "Changing"), written out here rather than read from
the app, so that a wrong row in the app fails a test. Each case starts from an appointment
written straight into the table in its `from` status."""

from datetime import datetime
from decimal import Decimal
from itertools import product
from typing import Any

import pytest
from sqlalchemy import text

from tests.appointments.conftest import insert_appointment, invoices_of
from tests.factories import create_patient

URL = "/api/appointments/"
START, END = "2030-01-07T09:00:00+01:00", "2030-01-07T09:50:00+01:00"
DENIED = {"detail": "You do not have permission to perform this action."}

STATUSES = (
    "proposed",
    "booked",
    "arrived",
    "checked-in",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
)
LEGAL: dict[str, set[str]] = {
    "proposed": {"booked", "cancelled", "entered-in-error"},
    "booked": {"arrived", "checked-in", "fulfilled", "cancelled", "noshow", "entered-in-error"},
    "arrived": {"checked-in", "fulfilled", "noshow", "entered-in-error"},
    "checked-in": {"fulfilled", "entered-in-error"},
    "fulfilled": set(),
    "cancelled": set(),
    "noshow": set(),
    "entered-in-error": set(),
}
# What the 400 says each status can become: the legal ones in alphabetical order.
CAN_BECOME = {
    "proposed": "booked, cancelled, entered-in-error",
    "booked": "arrived, cancelled, checked-in, entered-in-error, fulfilled, noshow",
    "arrived": "checked-in, entered-in-error, fulfilled, noshow",
    "checked-in": "entered-in-error, fulfilled",
    "fulfilled": "nothing: fulfilled is final",
    "cancelled": "nothing: cancelled is final",
    "noshow": "nothing: noshow is final",
    "entered-in-error": "nothing: entered-in-error is final",
}
CHANGES = [(old, new) for old, new in product(STATUSES, STATUSES) if old != new]
LEGAL_CHANGES = [(old, new) for old, new in CHANGES if new in LEGAL[old]]
ILLEGAL_CHANGES = [(old, new) for old, new in CHANGES if new not in LEGAL[old]]
WALLET = Decimal("50.00")
NOSHOW_FEE = Decimal("30.00")
LATE_FEE = Decimal("10.00")


def refusal(old: str, new: str) -> dict[str, list[str]]:
    return {
        "status": [
            f"An appointment that is {old} cannot become {new}; it can become {CAN_BECOME[old]}."
        ]
    }


async def scalar(engine: Any, sql: str, **params: Any) -> Any:
    async with engine.connect() as connection:
        return await connection.scalar(text(sql), params)


async def last_event(engine: Any, action: str) -> tuple[str, int, str | None]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT outcome, status_code, patient_id FROM audit_events "
                    "WHERE action = :a ORDER BY id DESC LIMIT 1"
                ),
                {"a": action},
            )
        ).one()
    return row.outcome, row.status_code, row.patient_id


class Scene:
    """One appointment in a status, its patient's wallet funded, and what the test reads back."""

    def __init__(self, client: Any, engine: Any, patient_id: str, appointment_id: int) -> None:
        self.client = client
        self.engine = engine
        self.patient_id = patient_id
        self.id = appointment_id
        self.url = f"{URL}{appointment_id}/"

    async def read(self) -> tuple[dict[str, Any], str]:
        response = await self.client.get(self.url)
        assert response.status_code == 200, response.text
        return response.json(), response.headers["ETag"]

    async def effects(self) -> dict[str, Any]:
        """What a change of status may bring with it: a session, a fee's invoice, a reminder
        (and the wallet, which none of them touches)."""
        patient = (await self.client.get(f"/api/patients/{self.patient_id}/")).json()
        invoices = await invoices_of(self.client, self.patient_id)
        reminders = await scalar(
            self.engine,
            "SELECT count(*) FROM appointment_reminders WHERE appointment_id = :a",
            a=self.id,
        )
        return {
            "sessions": [session["appointment"] for session in patient["sessions"]],
            "invoices": [
                (one["kind"], one["appointment"], one["status"], one["total"], one["amount_due"])
                for one in invoices
            ],
            "wallet": Decimal(patient["wallet_balance"]),
            "reminders": reminders,
        }


@pytest.fixture
def fees(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "noshow_fee", NOSHOW_FEE)
    monkeypatch.setattr(settings, "late_cancellation_fee", LATE_FEE)


@pytest.fixture
async def scene(client, therapist, patient, engine, fees):
    async def make(status: str, start: str = START, end: str = END) -> Scene:
        funded = await client.post(
            f"/api/patients/{patient['id']}/update_wallet/", json={"amount": str(WALLET)}
        )
        assert funded.status_code == 200, funded.text
        appointment_id = await insert_appointment(
            engine, patient["id"], therapist.id, status, start, end
        )
        return Scene(client, engine, patient["id"], appointment_id)

    return make


def actor_client(actor: str, client: Any, therapist: Any) -> Any:
    return client if actor == "admin" else therapist.client


def expected_effects(new: str) -> dict[str, Any]:
    """A change to `new` far from its start: fulfilled records a session (and bills nothing:
    the appointment names no service), noshow issues its fee's invoice, a booking plans a
    reminder; a cancellation days ahead bills nothing. The wallet is never touched."""
    return {
        "sessions": new == "fulfilled",
        "noshow_fee": new == "noshow",
        "wallet": WALLET,
        "reminders": 1 if new == "booked" else 0,
    }


@pytest.mark.parametrize("actor", ["admin", "therapist"])
@pytest.mark.parametrize(("old", "new"), LEGAL_CHANGES)
async def test_a_legal_change_is_made(scene, client, therapist, engine, actor, old, new):
    made = await scene(old)
    before, etag = await made.read()

    response = await actor_client(actor, client, therapist).patch(made.url, json={"status": new})

    assert response.status_code == 200, response.text
    after = response.json()
    assert after["status"] == new
    assert {**after, "updated_at": None} == {**before, "status": new, "updated_at": None}
    assert datetime.fromisoformat(after["updated_at"]) > datetime.fromisoformat(
        before["updated_at"]
    )
    assert response.headers["ETag"] != etag
    assert await made.read() == (after, response.headers["ETag"])
    effects = await made.effects()
    wanted = expected_effects(new)
    assert effects["sessions"] == ([made.id] if wanted["sessions"] else [])
    fee = str(NOSHOW_FEE)
    assert effects["invoices"] == (
        [("noshow_fee", made.id, "open", fee, fee)] if wanted["noshow_fee"] else []
    )
    assert effects["wallet"] == wanted["wallet"]
    assert effects["reminders"] == wanted["reminders"]
    assert await last_event(engine, "update_appointment") == ("success", 200, made.patient_id)


@pytest.mark.parametrize(("old", "new"), ILLEGAL_CHANGES)
async def test_an_illegal_change_is_a_400_and_changes_nothing(scene, client, engine, old, new):
    made = await scene(old)
    before = await made.read()
    effects = await made.effects()

    # The note sent with it is not kept either: the request is refused as a whole.
    response = await client.patch(made.url, json={"status": new, "note": "Not kept."})

    assert response.status_code == 400
    assert response.json() == refusal(old, new)
    assert await made.read() == before
    assert await made.effects() == effects
    assert await last_event(engine, "update_appointment") == ("invalid", 400, made.patient_id)


@pytest.mark.parametrize("status", STATUSES)
async def test_the_same_status_again_changes_nothing(scene, therapist, engine, status):
    made = await scene(status)
    before, etag = await made.read()
    effects = await made.effects()

    response = await therapist.client.patch(made.url, json={"status": status})

    assert response.status_code == 200, response.text
    assert response.json() == before
    assert response.headers["ETag"] == etag
    assert await made.read() == (before, etag)
    assert await made.effects() == effects
    assert await last_event(engine, "update_appointment") == ("success", 200, made.patient_id)


def some_change(old: str) -> str:
    """A change the owner could make from `old` (any, from a final status)."""
    return sorted(LEGAL[old])[0] if LEGAL[old] else "booked"


@pytest.mark.parametrize("status", STATUSES)
async def test_another_therapist_may_not_change_the_status(scene, make_therapist, engine, status):
    made = await scene(status)
    before = await made.read()
    effects = await made.effects()
    other = await make_therapist()

    response = await other.client.patch(made.url, json={"status": some_change(status)})

    assert response.status_code == 403
    assert response.json() == DENIED
    assert await made.read() == before
    assert await made.effects() == effects
    assert await last_event(engine, "update_appointment") == ("denied", 403, made.patient_id)


@pytest.mark.parametrize("status", STATUSES)
async def test_the_patient_may_not_change_the_status(scene, patient_client, engine, status):
    made = await scene(status)
    before = await made.read()
    effects = await made.effects()
    me = await patient_client(made.patient_id)

    response = await me.patch(made.url, json={"status": some_change(status)})

    assert response.status_code == 403
    assert response.json() == DENIED
    assert await made.read() == before
    assert await made.effects() == effects
    outcome, status_code, _ = await last_event(engine, "update_appointment")
    assert (outcome, status_code) == ("denied", 403)


async def test_a_status_that_does_not_exist_is_a_400(scene, client):
    made = await scene("booked")
    before = await made.read()

    response = await client.patch(made.url, json={"status": "done"})

    assert response.status_code == 400
    assert response.json() == {
        "status": [
            "Must be one of 'proposed', 'booked', 'arrived', 'checked-in', 'fulfilled', "
            "'cancelled', 'noshow' or 'entered-in-error'."
        ]
    }
    assert await made.read() == before


# The cancel action: the change to cancelled, with a reason, and for the patient too.


@pytest.mark.parametrize("actor", ["admin", "therapist", "patient"])
@pytest.mark.parametrize("status", STATUSES)
async def test_the_cancel_action_from_each_status(
    scene, client, therapist, patient_client, engine, actor, status
):
    made = await scene(status)
    before, etag = await made.read()
    effects = await made.effects()
    caller = (
        await patient_client(made.patient_id)
        if actor == "patient"
        else actor_client(actor, client, therapist)
    )

    response = await caller.post(f"{made.url}cancel/", json={"reason": "Ill."})

    if "cancelled" in LEGAL[status]:
        assert response.status_code == 200, response.text
        after = response.json()
        assert {**after, "updated_at": None} == {
            **before,
            "status": "cancelled",
            "cancellation_reason": "Ill.",
            "updated_at": None,
        }
        assert response.headers["ETag"] != etag
        assert await made.read() == (after, response.headers["ETag"])
        assert await last_event(engine, "cancel_appointment") == ("success", 200, made.patient_id)
    else:
        assert response.status_code == 400
        assert response.json() == refusal(status, "cancelled")
        assert await made.read() == (before, etag)
        assert await last_event(engine, "cancel_appointment") == ("invalid", 400, made.patient_id)
    # Days ahead: no fee, whoever cancels.
    assert await made.effects() == effects


@pytest.mark.parametrize("status", ["proposed", "booked"])
async def test_someone_elses_appointment_cannot_be_cancelled(
    scene, client, make_therapist, patient_client, engine, status
):
    made = await scene(status)
    before = await made.read()
    other_therapist = await make_therapist()
    other_patient = await patient_client((await create_patient(client))["id"])

    for caller in (other_therapist.client, other_patient):
        response = await caller.post(f"{made.url}cancel/", json={})
        assert response.status_code == 403
        assert response.json() == DENIED
        assert await made.read() == before


# Moving: only a proposed or booked appointment.


@pytest.mark.parametrize("status", STATUSES)
async def test_only_a_proposed_or_booked_appointment_moves(scene, client, engine, status):
    made = await scene(status)
    before, etag = await made.read()
    moved = {"start": "2030-01-07T10:00:00+01:00", "end": "2030-01-07T10:50:00+01:00"}

    response = await client.patch(made.url, json=moved)

    if status in ("proposed", "booked"):
        assert response.status_code == 200, response.text
        assert {**response.json(), "updated_at": None} == {
            **before,
            **moved,
            "updated_at": None,
        }
    else:
        assert response.status_code == 400
        assert response.json() == {"start": ["Only a proposed or booked appointment can be moved."]}
        assert await made.read() == (before, etag)

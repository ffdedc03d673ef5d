"""The measures' worker against a real PostgreSQL: requests planned before appointments, sent at
least once and never twice, never for a cancelled appointment, correct across both Berlin DST
weeks; safety alerts' mails that are never lost (a mail server down, a therapist deactivated, a
worker killed mid-batch) and escalate to every admin when nobody acknowledges them."""

import asyncio
import logging
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.core.config import PROJECT_ROOT, Settings
from app.measures.worker import HORIZON, LEASE, Claimed, MeasureWorker
from tests.measures.conftest import Capturing, assign, new_alert, staff_member
from tests.reminders.conftest import Clinic
from tests.reminders.test_worker import _env, _start, _wait_for

BERLIN = ZoneInfo("Europe/Berlin")
BASE = "https://api.clinic.example"
PHI = ("Janeza", "Doerina", "phq", "PHQ", "gad", "depress", "item", "17", "severe")


def _settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "public_base_url": BASE,
            "mail_from": "TherapyConnect <no-reply@clinic.example>",
            "clinic_timezone": "Europe/Berlin",
        }
    )


def _worker(clinic: Clinic, settings: Settings, mailer: Capturing | None = None) -> MeasureWorker:
    return MeasureWorker(clinic.database, mailer or Capturing(), _settings(settings))


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


async def _requests(clinic: Clinic) -> list[dict[str, Any]]:
    async with clinic.database.connection() as connection:
        rows = await connection.fetch("SELECT * FROM measure_requests ORDER BY appointment_id, id")
    return [dict(row) for row in rows]


async def _notices(clinic: Clinic, alert_id: int) -> list[dict[str, Any]]:
    async with clinic.database.connection() as connection:
        rows = await connection.fetch(
            "SELECT * FROM alert_notices WHERE alert_id = $1 ORDER BY id", alert_id
        )
    return [dict(row) for row in rows]


def _assert_no_phi(text: str) -> None:
    for word in PHI:
        assert word not in text


# --- Planning --------------------------------------------------------------------------------


async def test_before_each_plans_a_request_per_booked_appointment_within_the_horizon(
    clinic: Clinic, settings
):
    now = _minute(datetime.now(UTC))
    assignment = await assign(clinic, "before_each", lead_minutes=60, expires_after_minutes=100)
    soon = await clinic.book(now + timedelta(days=1))
    short = await clinic.book(now + timedelta(days=2), minutes=20)
    await clinic.book(now + timedelta(days=3), status="cancelled")
    await clinic.book(now + HORIZON + timedelta(hours=1))  # beyond the horizon, for now
    worker = _worker(clinic, settings)

    assert (await worker.cycle(now))["planned"] == 2
    rows = await _requests(clinic)
    assert [(r["appointment_id"], r["assignment_id"], r["status"]) for r in rows] == [
        (soon, assignment, "scheduled"),
        (short, assignment, "scheduled"),
    ]
    first, second = rows
    assert first["due_at"] == now + timedelta(days=1) - timedelta(minutes=60)
    assert first["expires_at"] == first["due_at"] + timedelta(minutes=100)
    # Never open after the appointment ends.
    assert second["expires_at"] == now + timedelta(days=2, minutes=20)

    assert "planned" not in await worker.cycle(now)  # idempotent
    assert len(await _requests(clinic)) == 2
    # A day later the far one has come within the horizon.
    assert (await worker.cycle(now + timedelta(days=1)))["planned"] == 1


async def test_every_nth_asks_before_the_first_and_each_nth_after_it(clinic: Clinic, settings):
    now = _minute(datetime.now(UTC))
    await assign(clinic, "every_nth", every=2)
    days = [1, 2, 3, 4, 5, 6]
    booked = [await clinic.book(now + timedelta(days=day)) for day in days]
    await clinic.book(now + timedelta(days=2, hours=3), status="cancelled")  # not counted
    await clinic.book(now + timedelta(days=2, hours=6), status="noshow")  # not counted

    await _worker(clinic, settings).cycle(now)
    planned = [row["appointment_id"] for row in await _requests(clinic)]
    assert planned == [booked[0], booked[2], booked[4]]


async def test_once_and_ended_assignments_plan_nothing(clinic: Clinic, settings):
    now = _minute(datetime.now(UTC))
    await assign(clinic, "once")
    ended = await assign(clinic, "before_each")
    await clinic.execute("UPDATE measure_assignments SET ended_at = now() WHERE id = $1", ended)
    await clinic.book(now + timedelta(days=1))
    assert "planned" not in await _worker(clinic, settings).cycle(now)
    assert await _requests(clinic) == []


async def test_appointments_from_before_the_assignment_are_not_counted(clinic: Clinic, settings):
    now = _minute(datetime.now(UTC))
    await clinic.book(now + timedelta(days=1))
    later = await clinic.book(now + timedelta(days=2))
    await assign(clinic, "every_nth", every=3, created_at=now + timedelta(days=1, hours=1))
    await _worker(clinic, settings).cycle(now)
    assert [row["appointment_id"] for row in await _requests(clinic)] == [later]


# --- Cancelled and moved appointments ----------------------------------------------------------


async def test_no_request_is_sent_for_a_cancelled_appointment(clinic: Clinic, settings):
    now = _minute(datetime.now(UTC))
    await assign(clinic, "before_each", lead_minutes=60)
    appointment = await clinic.book(now + timedelta(days=1))
    mailer = Capturing()
    worker = _worker(clinic, settings, mailer)
    await worker.cycle(now)
    await clinic.execute("UPDATE appointments SET status = 'cancelled' WHERE id = $1", appointment)

    outcomes = await worker.cycle(now + timedelta(days=1, minutes=-30))  # it would be due
    assert outcomes["cancelled"] == 1
    assert [row["status"] for row in await _requests(clinic)] == ["cancelled"]
    assert mailer.sent == []


async def test_a_request_claimed_when_its_appointment_is_cancelled_is_not_sent(
    clinic: Clinic, settings
):
    now = _minute(datetime.now(UTC))
    await assign(clinic, "before_each", lead_minutes=60)
    appointment = await clinic.book(now + timedelta(hours=2))
    mailer = Capturing()
    worker = _worker(clinic, settings, mailer)
    await worker.cycle(now - timedelta(days=1))  # planned, not due
    claimed = await worker.outbox.claim_requests(
        now + timedelta(hours=1), batch=10, lease=LEASE, max_attempts=8
    )
    assert len(claimed) == 1
    await clinic.execute("UPDATE appointments SET status = 'cancelled' WHERE id = $1", appointment)
    worker._clock = lambda: now + timedelta(hours=1)
    [row] = claimed
    assert await worker.send_request(Claimed(row["id"], row["attempts"])) == "requests_cancelled"
    assert mailer.sent == []


async def test_a_moved_appointment_moves_its_request(clinic: Clinic, settings):
    now = _minute(datetime.now(UTC))
    await assign(clinic, "before_each", lead_minutes=60, expires_after_minutes=30)
    appointment = await clinic.book(now + timedelta(days=1))
    worker = _worker(clinic, settings)
    await worker.cycle(now)
    moved_to = now + timedelta(days=3)
    await clinic.execute(
        "UPDATE appointments SET starts_at = $2, ends_at = $2::timestamptz + interval '50 minutes'"
        " WHERE id = $1",
        appointment,
        moved_to,
    )
    assert (await worker.cycle(now))["replanned"] == 1
    [row] = await _requests(clinic)
    assert row["due_at"] == moved_to - timedelta(minutes=60)
    assert row["expires_at"] == moved_to - timedelta(minutes=30)
    assert "replanned" not in await worker.cycle(now)


# --- Across DST ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("monday", "lead_minutes", "due_local"),
    [
        # Summer time began on Sunday 28 March 2027 at 02:00 (01:00 UTC).
        (datetime(2027, 3, 29, 9, 0, tzinfo=BERLIN), 1440, datetime(2027, 3, 28, 9, 0)),
        (datetime(2027, 3, 29, 9, 0, tzinfo=BERLIN), 2880, datetime(2027, 3, 27, 8, 0)),
        # Winter time began on Sunday 31 October 2027 at 03:00 (01:00 UTC).
        (datetime(2027, 11, 1, 9, 0, tzinfo=BERLIN), 1440, datetime(2027, 10, 31, 9, 0)),
        (datetime(2027, 11, 1, 9, 0, tzinfo=BERLIN), 2880, datetime(2027, 10, 30, 10, 0)),
    ],
    ids=["march-1440", "march-2880", "october-1440", "october-2880"],
)
async def test_a_request_is_due_the_lead_as_a_duration_before_across_dst(
    clinic: Clinic, settings, monday: datetime, lead_minutes: int, due_local: datetime
):
    """The lead is an absolute duration: 24 h before Monday 09:00 is Sunday 09:00 local either
    way (the clocks changed at night, before it); 48 h spans the change, so it is Saturday 08:00
    local in March and Saturday 10:00 local in October."""
    starts_at = monday.astimezone(UTC)
    await assign(clinic, "before_each", lead_minutes=lead_minutes)
    await clinic.book(starts_at)
    mailer = Capturing()
    worker = _worker(clinic, settings, mailer)

    await worker.cycle(starts_at - timedelta(days=5))
    [row] = await _requests(clinic)
    assert row["due_at"] == starts_at - timedelta(minutes=lead_minutes)
    assert row["due_at"].astimezone(BERLIN).replace(tzinfo=None) == due_local

    await worker.cycle(row["due_at"] - timedelta(minutes=1))
    assert mailer.sent == []
    assert (await worker.cycle(row["due_at"]))["requests_sent"] == 1
    assert len(mailer.sent) == 1


# --- Sending ---------------------------------------------------------------------------------


async def test_a_due_request_is_mailed_once_with_a_link_and_no_phi(
    clinic: Clinic, settings, caplog
):
    caplog.set_level(logging.INFO)
    now = _minute(datetime.now(UTC))
    await assign(clinic, "before_each", lead_minutes=60)
    await clinic.book(now + timedelta(minutes=30))  # due half an hour ago
    mailer = Capturing()
    worker = _worker(clinic, settings, mailer)

    outcomes = await worker.cycle(now)
    assert (outcomes["planned"], outcomes["requests_sent"]) == (1, 1)
    [row] = await _requests(clinic)
    assert (row["status"], row["attempts"]) == ("sent", 1)
    assert row["sent_at"] == now
    [(message, key)] = mailer.sent
    assert key == f"measure-request-{row['id']}"
    assert message["To"] == clinic.email
    assert message["Message-ID"] == f"<measure-request.{row['id']}@clinic.example>"
    assert message["Subject"] == "A short questionnaire from your practice"
    body = message.get_content()
    assert f"{BASE}/measures/requests/{row['id']}" in body
    _assert_no_phi(str(message["Subject"]) + body)

    assert "requests_sent" not in await worker.cycle(now + timedelta(minutes=1))
    assert len(mailer.sent) == 1
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("app.measures")]
    assert f"measure request {row['id']}: sent" in ours
    for line in ours:
        assert "@" not in line
        _assert_no_phi(line)


async def test_two_workers_at_once_send_each_request_once(clinic: Clinic, settings):
    now = _minute(datetime.now(UTC))
    await assign(clinic, "before_each", lead_minutes=60 * 48, expires_after_minutes=43200)
    for hours in range(20):
        await clinic.book(now + timedelta(days=1, hours=hours))
    await _worker(clinic, settings).cycle(now - timedelta(days=3))  # planned, none due
    mailer = Capturing(delay=0.01)

    async def drain() -> int:
        """Cycles in batches of 5 until nothing is left to claim: how many it sent."""
        worker = MeasureWorker(clinic.database, mailer, _settings(settings), batch=5)
        sent = 0
        while (outcomes := await worker.cycle(now))["claimed"]:
            sent += outcomes["requests_sent"]
        return sent

    first, second = await asyncio.gather(drain(), drain())
    assert first + second == 20
    assert min(first, second) > 0  # both had a share
    keys = mailer.keys()
    assert len(keys) == len(set(keys)) == 20
    assert {row["status"] for row in await _requests(clinic)} == {"sent"}


async def test_a_dead_workers_requests_are_sent_once_its_lease_ends(clinic: Clinic, settings):
    """A worker that claimed a batch and died: nothing goes out while its lease lasts, then all
    of it, each with the same key as the dead worker would have used."""
    now = _minute(datetime.now(UTC))
    await assign(clinic, "before_each", lead_minutes=60 * 48, expires_after_minutes=43200)
    for hours in range(5):
        await clinic.book(now + timedelta(days=1, hours=hours))
    dead = _worker(clinic, settings)
    await dead.cycle(now - timedelta(days=3))
    claimed = await dead.outbox.claim_requests(now, batch=50, lease=LEASE, max_attempts=8)
    assert len(claimed) == 5

    mailer = Capturing()
    worker = _worker(clinic, settings, mailer)
    assert "requests_sent" not in await worker.cycle(now + LEASE - timedelta(seconds=1))
    assert (await worker.cycle(now + LEASE))["requests_sent"] == 5
    assert sorted(mailer.keys()) == sorted(f"measure-request-{row['id']}" for row in claimed)
    assert {(r["status"], r["attempts"]) for r in await _requests(clinic)} == {("sent", 2)}


async def test_a_failed_send_is_retried_then_given_up(clinic: Clinic, settings):
    now = _minute(datetime.now(UTC))
    await assign(clinic, "before_each", lead_minutes=60 * 24, expires_after_minutes=43200)
    await clinic.book(now + timedelta(days=1))
    mailer = Capturing(down=100)
    worker = _worker(clinic, settings.model_copy(update={"reminder_max_attempts": 3}), mailer)
    assert (await worker.cycle(now))["requests_retry"] == 1
    assert "requests_retry" not in await worker.cycle(now + timedelta(seconds=30))  # backoff
    assert (await worker.cycle(now + timedelta(minutes=2)))["requests_retry"] == 1
    assert (await worker.cycle(now + timedelta(minutes=10)))["requests_failed"] == 1
    [row] = await _requests(clinic)
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert mailer.sent == []


async def test_a_patient_without_an_address_fails_at_once(clinic: Clinic, settings, caplog):
    now = _minute(datetime.now(UTC))
    await assign(clinic, "before_each", lead_minutes=60)
    await clinic.book(now + timedelta(minutes=30))
    await clinic.execute("UPDATE patients SET email = NULL WHERE id = $1", clinic.patient_id)
    mailer = Capturing()
    assert (await _worker(clinic, settings, mailer).cycle(now))["requests_failed"] == 1
    [row] = await _requests(clinic)
    assert row["status"] == "failed"
    assert mailer.sent == []
    assert any("the patient has no e-mail address" in r.getMessage() for r in caplog.records)


async def test_unanswered_requests_expire(clinic: Clinic, settings):
    now = _minute(datetime.now(UTC))
    await assign(clinic, "before_each", lead_minutes=60, expires_after_minutes=60)
    await clinic.book(now + timedelta(minutes=30))  # due, open for 30 minutes more
    await clinic.book(now + timedelta(hours=5))
    mailer = Capturing()
    worker = _worker(clinic, settings, mailer)
    await worker.cycle(now)
    assert len(mailer.sent) == 1
    # Both past their time: the one sent and not answered, and the one never sent (the worker
    # did not run while it was open).
    assert (await worker.cycle(now + timedelta(hours=5)))["expired"] == 2
    assert {row["status"] for row in await _requests(clinic)} == {"expired"}
    assert len(mailer.sent) == 1


# --- Safety alerts -------------------------------------------------------------------------


async def _therapist_email(clinic: Clinic) -> str:
    email = "rivera@clinic.example"
    await clinic.execute("UPDATE staff SET email = $2 WHERE id = $1", clinic.therapist_id, email)
    return email


async def _admins_with_addresses(clinic: Clinic) -> set[str]:
    async with clinic.database.connection() as connection:
        rows = await connection.fetch(
            "SELECT email FROM staff WHERE role = 'admin' AND is_active AND email <> ''"
        )
    return {row["email"] for row in rows}


async def test_the_therapist_is_told_of_an_alert_without_phi(clinic: Clinic, settings, caplog):
    caplog.set_level(logging.INFO)
    email = await _therapist_email(clinic)
    alert = await new_alert(clinic, clinic.therapist_id)
    mailer = Capturing()
    outcomes = await _worker(clinic, settings, mailer).cycle()
    assert outcomes["notices_sent"] == 1
    [notice] = await _notices(clinic, alert)
    assert (notice["kind"], notice["status"], notice["attempts"]) == ("notify", "sent", 1)
    [(message, key)] = mailer.sent
    assert key == f"alert-notice-{notice['id']}"
    assert message["To"] == email
    assert message["Subject"] == "A response needs your attention"
    body = message.get_content()
    assert f"{BASE}/admin/alerts" in body
    assert f"(alert {alert})" in body
    _assert_no_phi(str(message["Subject"]) + body)
    for record in caplog.records:
        if record.name.startswith("app.measures"):
            assert "@" not in record.getMessage()
            _assert_no_phi(record.getMessage())


async def test_a_mail_server_down_delays_the_alert_until_it_is_sent(clinic: Clinic, settings):
    await _therapist_email(clinic)
    alert = await new_alert(clinic, clinic.therapist_id)
    mailer = Capturing(down=2)
    worker = _worker(clinic, settings, mailer)
    now = datetime.now(UTC)
    assert (await worker.cycle(now))["notices_retry"] == 1
    assert (await worker.cycle(now + timedelta(minutes=2)))["notices_retry"] == 1
    assert (await worker.cycle(now + timedelta(minutes=10)))["notices_sent"] == 1
    [notice] = await _notices(clinic, alert)
    assert (notice["status"], notice["attempts"]) == ("sent", 3)
    assert len(mailer.sent) == 1


async def test_a_notice_is_never_given_up_and_its_alert_escalates_after_three_failures(
    clinic: Clinic, settings
):
    await _therapist_email(clinic)
    _, admin = await staff_member(clinic, "admin")
    alert = await new_alert(clinic, clinic.therapist_id, escalate_minutes=600)
    mailer = Capturing(down=3)
    worker = _worker(clinic, settings.model_copy(update={"reminder_max_attempts": 1}), mailer)
    now = datetime.now(UTC)
    for minutes in (0, 2, 10):
        assert (await worker.cycle(now + timedelta(minutes=minutes)))["notices_retry"] >= 1
    # The third failure escalated it at once, long before its 600 minutes; the admin's mail
    # goes out in the same cycle.
    assert admin in mailer.to()
    assert (await worker.cycle(now + timedelta(hours=2)))["notices_sent"] == 1
    kinds = {(n["kind"], n["status"]) for n in await _notices(clinic, alert)}
    assert ("notify", "sent") in kinds


async def test_a_deactivated_therapist_makes_the_alert_go_to_every_admin_at_once(
    clinic: Clinic, settings
):
    await _therapist_email(clinic)
    await clinic.execute("UPDATE staff SET is_active = false WHERE id = $1", clinic.therapist_id)
    _, first = await staff_member(clinic, "admin")
    _, second = await staff_member(clinic, "admin")
    await staff_member(clinic, "admin", active=False)
    await staff_member(clinic, "admin", email=None)
    await staff_member(clinic, "therapist")
    alert = await new_alert(clinic, clinic.therapist_id)
    mailer = Capturing()

    outcomes = await _worker(clinic, settings, mailer).cycle()
    assert outcomes["notices_undeliverable"] == 1
    assert outcomes["escalated"] == 1
    assert sorted(mailer.to()) == sorted({first, second} | await _admins_with_addresses(clinic))
    notices = await _notices(clinic, alert)
    assert notices[0]["kind"] == "notify"
    assert notices[0]["status"] == "undeliverable"
    assert {n["status"] for n in notices[1:]} == {"sent"}
    async with clinic.database.connection() as connection:
        escalated = await connection.fetchval(
            "SELECT escalated_at FROM safety_alerts WHERE id = $1", alert
        )
    assert escalated is not None


async def test_an_unacknowledged_alert_escalates_to_every_admin_once(clinic: Clinic, settings):
    await _therapist_email(clinic)
    _, first = await staff_member(clinic, "admin")
    _, second = await staff_member(clinic, "admin")
    alert = await new_alert(clinic, clinic.therapist_id, escalate_minutes=60)
    mailer = Capturing()
    worker = _worker(clinic, settings, mailer)
    now = datetime.now(UTC)
    await worker.cycle(now)
    assert len(mailer.sent) == 1  # the therapist
    assert "escalated" not in await worker.cycle(now + timedelta(minutes=59))

    outcomes = await worker.cycle(now + timedelta(minutes=61))
    assert outcomes["escalated"] == 1
    admins = await _admins_with_addresses(clinic)
    assert {first, second} <= admins
    assert sorted(mailer.to()[1:]) == sorted(admins)
    for _ in range(2):
        assert "escalated" not in await worker.cycle(now + timedelta(minutes=120))
    assert len(mailer.sent) == 1 + len(admins)  # every admin once
    message, _ = mailer.sent[-1]
    assert "not been acknowledged" in message.get_content()
    _assert_no_phi(message.get_content())
    assert len(await _notices(clinic, alert)) == 1 + len(admins)


async def test_an_acknowledged_alert_does_not_escalate(clinic: Clinic, settings):
    await _therapist_email(clinic)
    await staff_member(clinic, "admin")
    alert = await new_alert(clinic, clinic.therapist_id, escalate_minutes=60)
    mailer = Capturing()
    worker = _worker(clinic, settings, mailer)
    now = datetime.now(UTC)
    await worker.cycle(now)
    await clinic.execute(
        "UPDATE safety_alerts SET status = 'acknowledged', acknowledged_at = now(),"
        " acknowledged_by = 'rivera' WHERE id = $1",
        alert,
    )
    assert "escalated" not in await worker.cycle(now + timedelta(hours=3))
    assert len(mailer.sent) == 1
    assert [n["kind"] for n in await _notices(clinic, alert)] == ["notify"]


async def test_an_alert_without_a_therapist_escalates_at_once(clinic: Clinic, settings):
    _, admin = await staff_member(clinic, "admin")
    alert = await new_alert(clinic, None)
    mailer = Capturing()
    assert (await _worker(clinic, settings, mailer).cycle())["escalated"] == 1
    assert admin in mailer.to()
    assert {n["kind"] for n in await _notices(clinic, alert)} == {"escalate"}


async def test_an_alert_nobody_can_be_told_of_is_logged_every_cycle_until_an_admin_can(
    clinic: Clinic, settings, caplog
):
    await clinic.execute("UPDATE staff SET email = NULL WHERE role = 'admin'")
    alert = await new_alert(clinic, None)
    mailer = Capturing()
    worker = _worker(clinic, settings, mailer)
    for _ in range(2):
        caplog.clear()
        assert (await worker.cycle())["unescalated"] == 1
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert errors == [
            f"safety alert {alert}: escalated, but no active admin has an e-mail address:"
            " nobody is told"
        ]
    _, admin = await staff_member(clinic, "admin")
    assert (await worker.cycle())["escalated"] == 1
    assert mailer.to() == [admin]
    assert "unescalated" not in await worker.cycle()


async def test_a_dead_workers_notices_are_sent_once_its_lease_ends(clinic: Clinic, settings):
    email = await _therapist_email(clinic)
    alerts = [await new_alert(clinic, clinic.therapist_id) for _ in range(3)]
    dead = _worker(clinic, settings)
    now = datetime.now(UTC) + timedelta(seconds=1)
    claimed = await dead.outbox.claim_notices(now, batch=50, lease=LEASE)
    assert {row["alert_id"] for row in claimed} == set(alerts)

    mailer = Capturing()
    worker = _worker(clinic, settings, mailer)
    assert "notices_sent" not in await worker.cycle(now + LEASE - timedelta(seconds=1))
    assert (await worker.cycle(now + LEASE))["notices_sent"] == 3
    assert mailer.to() == [email] * 3
    assert sorted(mailer.keys()) == sorted(f"alert-notice-{row['id']}" for row in claimed)


# --- A worker process killed mid-batch ---------------------------------------------------------


async def test_a_worker_process_killed_mid_batch_loses_no_request_and_no_notice(
    clinic: Clinic, inbox, cli_env
):
    """`python -m app worker` killed while it sends the alerts' mails (after the requests'):
    once the leases run out, the next run sends the rest; the one in hand at the kill may
    arrive twice, as the same message."""
    sink, port = inbox
    sink.delay = 0.1  # a slow mail server: the kill finds the worker in the middle
    await _therapist_email(clinic)
    now = datetime.now(UTC)
    await assign(clinic, "before_each", lead_minutes=60 * 48, expires_after_minutes=43200)
    for hours in range(10):
        await clinic.book(_minute(now + timedelta(days=1, hours=hours)))
    for _ in range(10):
        await new_alert(clinic, clinic.therapist_id, escalate_minutes=600)
    env = {**_env(cli_env, port), "PUBLIC_BASE_URL": BASE}

    worker = _start(env, "--batch", "50")
    try:
        await _wait_for(lambda: len(sink.messages) >= 13)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert len(sink.messages) < 20, "the worker was killed mid-batch"
    async with clinic.database.connection() as connection:
        leased = await connection.fetchval(
            "SELECT count(*) FROM alert_notices WHERE status = 'pending' AND leased_until > now()"
        )
        assert leased > 0  # the dead worker's batch waits for its lease to end
        # The leases run out.
        await connection.execute(
            "UPDATE alert_notices SET leased_until = now() - interval '1 second'"
            " WHERE leased_until IS NOT NULL"
        )
        await connection.execute(
            "UPDATE measure_requests SET leased_until = now() - interval '1 second'"
            " WHERE leased_until IS NOT NULL"
        )

    finished = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app", "worker", "--once", "--batch", "50"],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    async with clinic.database.connection() as connection:
        requests = await connection.fetch("SELECT id, status FROM measure_requests")
        notices = await connection.fetch("SELECT id, status FROM alert_notices")
    assert len(requests) == len(notices) == 10
    assert {row["status"] for row in [*requests, *notices]} == {"sent"}
    domain = "clinic.example"
    expected = {f"<measure-request.{row['id']}@{domain}>" for row in requests} | {
        f"<alert-notice.{row['id']}@{domain}>" for row in notices
    }
    ids = [str(message["Message-ID"]) for message in sink.messages]
    assert set(ids) == expected  # nothing lost
    assert len(ids) - len(set(ids)) <= 1  # nothing twice but the one in hand, as the same mail
    for line in finished.stderr.splitlines():
        assert "@" not in line

"""The reminders' sender against a real PostgreSQL and a real SMTP server."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from app.mail.mailer import OutboxMailer
from app.reminders.service import LONGEST_RETRY, ReminderSender, message_id, retry_delay
from tests.reminders.conftest import Clinic, mailer, message_ids, smtp_settings


async def test_a_due_reminder_is_sent_once(clinic: Clinic, inbox, settings, caplog):
    caplog.set_level(logging.INFO)
    sink, port = inbox
    starts_at = datetime(2031, 3, 31, 7, 0, tzinfo=UTC)  # 09:00 in Berlin (summer time)
    appointment = await clinic.book(starts_at, kind="video")
    reminder = await clinic.outbox(appointment, starts_at, datetime.now(UTC) - timedelta(seconds=1))
    configured = smtp_settings(settings, port)
    sender = ReminderSender(clinic.database, mailer(configured), configured)

    outcomes = await sender.cycle()
    assert outcomes["sent"] == 1
    assert (await sender.cycle())["claimed"] == 0

    [received] = sink.messages
    assert sink.recipients == [[clinic.email]]
    key = f"appointment:{appointment}:{int(starts_at.timestamp())}"
    assert received["Message-ID"] == message_id(key, configured.mail_from)
    assert (
        received["Message-ID"] == f"<reminder.appointment.{appointment}.1932706800@clinic.example>"
    )
    assert (
        received["Subject"] == "Reminder: your video appointment on Monday 31 March 2031 at 09:00"
    )
    body = received.get_content()
    assert "Dr. Rivera" in body
    assert "09:00 to 09:50 (Europe/Berlin)" in body
    assert "Janeza" not in body
    assert "Doerina" not in body
    row = await clinic.reminder(reminder)
    assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 1, None)
    assert row["sent_at"] is not None

    ours = [r.getMessage() for r in caplog.records if r.name.startswith("app.reminders")]
    assert f"reminder {reminder} of appointment {appointment}: sent" in ours
    for line in ours:
        assert "@" not in line
        assert "Janeza" not in line
        assert "Doerina" not in line


async def test_a_reminder_not_yet_due_waits(clinic: Clinic, inbox, settings):
    sink, port = inbox
    starts_at = datetime.now(UTC) + timedelta(days=3)
    appointment = await clinic.book(starts_at)
    await clinic.outbox(appointment, starts_at, starts_at - timedelta(days=1))
    configured = smtp_settings(settings, port)
    assert (await ReminderSender(clinic.database, mailer(configured), configured).cycle()) == {
        "claimed": 0
    }
    assert sink.messages == []


async def test_no_reminder_for_an_appointment_cancelled_after_its_outbox_row(
    clinic: Clinic, inbox, settings
):
    sink, port = inbox
    appointment, reminder = await clinic.due_reminder()
    await clinic.execute("UPDATE appointments SET status = 'cancelled' WHERE id = $1", appointment)
    configured = smtp_settings(settings, port)
    outcomes = await ReminderSender(clinic.database, mailer(configured), configured).cycle()
    assert outcomes["skipped"] == 1
    assert sink.messages == []
    row = await clinic.reminder(reminder)
    assert (row["state"], row["last_error"]) == ("skipped", "The appointment is cancelled.")


async def test_a_moved_appointment_gets_the_reminder_of_its_new_start_only(
    clinic: Clinic, inbox, settings
):
    sink, port = inbox
    appointment, old = await clinic.due_reminder()
    moved_to = (datetime.now(UTC) + timedelta(days=1, hours=3)).replace(second=0, microsecond=0)
    await clinic.execute(
        "UPDATE appointments SET starts_at = $2,"
        " ends_at = $2::timestamptz + interval '50 minutes' WHERE id = $1",
        appointment,
        moved_to,
    )
    new = await clinic.outbox(appointment, moved_to, datetime.now(UTC) - timedelta(seconds=1))
    configured = smtp_settings(settings, port)
    outcomes = await ReminderSender(clinic.database, mailer(configured), configured).cycle()
    assert (outcomes["sent"], outcomes["skipped"]) == (1, 1)
    assert (await clinic.reminder(old))["last_error"] == "The appointment has moved."
    assert (await clinic.reminder(new))["state"] == "sent"
    key = f"appointment:{appointment}:{int(moved_to.timestamp())}"
    assert message_ids(sink.messages) == [message_id(key, configured.mail_from)]


async def test_no_reminder_without_an_address_or_once_it_has_started(
    clinic: Clinic, inbox, settings
):
    sink, port = inbox
    started_at = datetime.now(UTC) - timedelta(minutes=5)
    started = await clinic.book(started_at)
    late = await clinic.outbox(started, started_at, started_at - timedelta(days=1))
    configured = smtp_settings(settings, port)
    sender = ReminderSender(clinic.database, mailer(configured), configured)
    await sender.cycle()
    assert (await clinic.reminder(late))["last_error"] == "The appointment has started."

    await clinic.execute("UPDATE patients SET email = NULL WHERE id = $1", clinic.patient_id)
    _, unaddressed = await clinic.due_reminder()
    await sender.cycle()
    row = await clinic.reminder(unaddressed)
    assert (row["state"], row["last_error"]) == ("skipped", "The patient has no e-mail address.")
    assert sink.messages == []


class Jitter:
    """retry_delay's random factor, fixed: `uniform(0.9, 1.1)` answers `factor`."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def uniform(self, low: float, high: float) -> float:
        assert (low, high) == (0.9, 1.1)
        return self.factor


@pytest.fixture
def jitter(monkeypatch: pytest.MonkeyPatch) -> Jitter:
    fixed = Jitter(1.0)
    monkeypatch.setattr("app.reminders.service.random", fixed)
    return fixed


async def test_a_failed_send_is_retried_with_backoff_then_sent(
    clinic: Clinic, inbox, settings, jitter: Jitter
):
    sink, port = inbox
    _, reminder = await clinic.due_reminder()
    configured = smtp_settings(settings, port)
    sender = ReminderSender(clinic.database, mailer(configured), configured)

    sink.refuse = "451 Try again later"
    jitter.factor = 1.1
    before = datetime.now(UTC)
    assert (await sender.cycle())["retry"] == 1
    after = datetime.now(UTC)
    row = await clinic.reminder(reminder)
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert row["last_error"] == "Attempt 1 failed: SMTPDataError: SMTP 451"
    # A minute times the jitter, from the moment of the failure, which fell within the cycle.
    retry = timedelta(seconds=66)
    assert before + retry <= row["next_attempt_at"] <= after + retry
    assert (await sender.cycle())["claimed"] == 0  # not before its time

    sink.refuse = None
    await clinic.fast_forward()
    assert (await sender.cycle())["sent"] == 1
    row = await clinic.reminder(reminder)
    assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 2, None)
    assert len(sink.messages) == 1


@pytest.mark.parametrize(
    ("factor", "seventh"),  # the 7th: 64 minutes jittered, cut to the hour
    [(0.9, timedelta(minutes=57.6)), (1.0, LONGEST_RETRY), (1.1, LONGEST_RETRY)],
)
def test_the_backoff_doubles_up_to_an_hour(jitter: Jitter, factor: float, seventh: timedelta):
    jitter.factor = factor
    for attempts, minutes in ((1, 1), (2, 2), (3, 4), (6, 32)):
        assert retry_delay(attempts) == timedelta(minutes=minutes) * factor
    assert retry_delay(7) == seventh
    assert retry_delay(40) == LONGEST_RETRY
    assert retry_delay(10_000) == LONGEST_RETRY  # no overflow


async def test_a_reminder_fails_after_the_last_attempt(clinic: Clinic, inbox, settings):
    sink, port = inbox
    _, reminder = await clinic.due_reminder()
    configured = smtp_settings(settings, port, reminder_max_attempts=3)
    sender = ReminderSender(clinic.database, mailer(configured), configured)
    sink.refuse = "550 No such user <jane@example.org>"
    outcomes = []
    for _ in range(4):
        outcomes.append(await sender.cycle())
        await clinic.fast_forward()
    assert [o["retry"] for o in outcomes] == [1, 1, 0, 0]
    assert outcomes[2]["failed"] == 1
    assert outcomes[3]["claimed"] == 0
    row = await clinic.reminder(reminder)
    assert (row["state"], row["attempts"]) == ("failed", 3)
    assert row["last_error"] == "Not sent after 3 attempts: SMTPDataError: SMTP 550"
    assert sink.messages == []


async def test_a_worker_that_died_on_the_last_attempt_leaves_a_failed_reminder(
    clinic: Clinic, inbox, settings
):
    _, port = inbox
    _, reminder = await clinic.due_reminder()
    await clinic.execute("UPDATE appointment_reminders SET attempts = 8 WHERE id = $1", reminder)
    configured = smtp_settings(settings, port)
    outcomes = await ReminderSender(clinic.database, mailer(configured), configured).cycle()
    assert (outcomes["failed"], outcomes["claimed"]) == (1, 0)
    row = await clinic.reminder(reminder)
    assert (row["state"], row["last_error"]) == (
        "failed",
        "The worker stopped during the last attempt.",
    )


async def test_two_workers_never_send_one_reminder_twice(clinic: Clinic, inbox, settings):
    sink, port = inbox
    count = 40
    for offset in range(count):
        await clinic.due_reminder(timedelta(days=1, hours=offset))
    configured = smtp_settings(settings, port)

    async def work() -> int:
        sender = ReminderSender(clinic.database, mailer(configured), configured, batch=3)
        sent = 0
        while (outcomes := await sender.cycle())["claimed"]:
            sent += outcomes["sent"]
        return sent

    shares = await asyncio.gather(work(), work(), work())
    assert sum(shares) == count
    assert all(shares), shares  # each worker did some of it
    ids = message_ids(sink.messages)
    assert len(ids) == len(set(ids)) == count
    assert (
        await clinic.value(
            "SELECT count(*) FROM appointment_reminders WHERE state = 'sent' AND attempts = 1"
        )
        == count
    )


async def test_a_worker_whose_lease_ran_out_leaves_the_reminder_alone(
    clinic: Clinic, inbox, settings
):
    """A claim is fenced by its attempt: once another worker has claimed the reminder again,
    the first can neither send it nor mark it."""
    sink, port = inbox
    _, reminder = await clinic.due_reminder()
    configured = smtp_settings(settings, port)
    slow = ReminderSender(clinic.database, mailer(configured), configured)
    [claimed] = await slow.reminders.claim(batch=1, lease=timedelta(0), max_attempts=8)
    other = ReminderSender(clinic.database, mailer(configured), configured)
    assert (await other.cycle())["sent"] == 1
    from app.reminders.service import Claimed

    late = Claimed(claimed["id"], claimed["appointment_id"], claimed["dedupe_key"], 1)
    assert await slow.process(late) == "lost"
    assert len(sink.messages) == 1
    assert (await clinic.reminder(reminder))["attempts"] == 2


async def test_a_stopping_worker_finishes_the_reminder_in_hand_and_releases_the_rest(
    clinic: Clinic, inbox, settings
):
    sink, port = inbox
    reminders = [(await clinic.due_reminder(timedelta(days=1, hours=h)))[1] for h in range(3)]
    configured = smtp_settings(settings, port)
    smtp = mailer(configured)

    class StopAfterOne:
        async def send(self, message: EmailMessage, *, key: str | None = None) -> None:
            sender.stopping = True  # the signal arrives while the first is being sent
            await smtp.send(message, key=key)

    sender = ReminderSender(clinic.database, StopAfterOne(), configured)
    outcomes = await sender.cycle()
    assert (outcomes["sent"], outcomes["released"]) == (1, 2)
    states = [await clinic.reminder(reminder) for reminder in reminders]
    assert [(s["state"], s["attempts"]) for s in states] == [
        ("sent", 1),
        ("pending", 0),
        ("pending", 0),
    ]
    assert all(s["next_attempt_at"] <= datetime.now(UTC) for s in states[1:])  # due at once
    assert len(sink.messages) == 1


async def test_the_file_outbox_names_a_reminder_by_its_dedupe_key(
    clinic: Clinic, settings, tmp_path
):
    appointment, reminder = await clinic.due_reminder()
    configured = settings.model_copy(update={"mail_smtp_host": None})
    folder = tmp_path / "outbox"
    sender = ReminderSender(clinic.database, OutboxMailer(folder), configured)
    assert (await sender.cycle())["sent"] == 1
    # The same reminder again, as after a crash between the send and its mark.
    await clinic.execute(
        "UPDATE appointment_reminders SET state = 'pending', next_attempt_at = now() WHERE id = $1",
        reminder,
    )
    assert (await sender.cycle())["sent"] == 1
    [file] = folder.iterdir()
    key = (await clinic.reminder(reminder))["dedupe_key"]
    assert file.name == key.replace(":", "-") + ".eml"
    parsed = message_from_bytes(file.read_bytes(), policy=policy.default)
    assert parsed["To"] == clinic.email
    assert str(appointment) in parsed["Message-ID"]


@pytest.mark.parametrize("kind", ["in_person", "video"])
async def test_the_mail_names_the_kind(clinic: Clinic, inbox, settings, kind):
    sink, port = inbox
    starts_at = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    appointment = await clinic.book(starts_at, kind=kind)
    await clinic.outbox(appointment, starts_at, datetime.now(UTC) - timedelta(seconds=1))
    configured = smtp_settings(settings, port)
    await ReminderSender(clinic.database, mailer(configured), configured).cycle()
    [received] = sink.messages
    expected = "appointment in person" if kind == "in_person" else "video appointment"
    assert expected in received["Subject"]


@pytest.mark.parametrize("control", ["\r\n", "\n", "\r", "\t", "\x0b\x1b", "\u2028"])
async def test_a_therapist_name_stored_with_line_breaks_goes_out_on_one_line(
    clinic: Clinic, inbox, settings, control
):
    """A name written before display names were held to one line: the mail goes out all the
    same, the name on one line, no header added."""
    sink, port = inbox
    await clinic.execute(
        "UPDATE staff SET display_name = $1 WHERE id = $2",
        f"Dr. Rivera{control}Bcc: evil@example.org",
        clinic.therapist_id,
    )
    starts_at = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    appointment = await clinic.book(starts_at)
    reminder = await clinic.outbox(appointment, starts_at, datetime.now(UTC) - timedelta(seconds=1))
    configured = smtp_settings(settings, port)
    assert (await ReminderSender(clinic.database, mailer(configured), configured).cycle())[
        "sent"
    ] == 1
    [received] = sink.messages
    assert sink.recipients == [[clinic.email]]
    assert received["Bcc"] is None
    assert "with Dr. Rivera Bcc: evil@example.org:\n" in received.get_content().replace(
        "\r\n", "\n"
    )
    assert (await clinic.reminder(reminder))["state"] == "sent"

"""Sending the reminders of the outbox: one cycle of the worker (claim the due ones, then each in
turn: check the appointment as it is now, mail, mark).

Delivery is at least once: a reminder is marked sent after the mail server has taken it, so a
worker that dies between the two leaves it pending, and another sends it again once the lease
has run out. Only the reminder in hand can be sent twice that way (a worker sends one at a
time), and both copies carry the same Message-ID, made from the dedupe key (and the file outbox
names the file by it, so the second copy replaces the first). Nothing is lost: a claimed
reminder is always either marked or left to come due again.

Logs name the reminder and the appointment by id and the outcome; never an address or a name.
"""

import logging
import random
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import cast

import aiosmtplib

from app.core.config import Settings
from app.db.query import Executor
from app.mail.mailer import Mailer
from app.mail.templates import render
from app.reminders.repository import ReminderRepository
from app.reminders.schemas import AtSendTimeRow, SendableRow

logger = logging.getLogger(__name__)

# How long a claimed reminder is the worker's before another may take it: far longer than a
# send may take (MAIL_TIMEOUT_SECONDS), renewed just before each send.
LEASE = timedelta(minutes=5)
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)
TEMPLATE = "appointment_reminder"
KIND_NAMES = {"in_person": "appointment in person", "video": "video appointment"}


def retry_delay(attempts: int) -> timedelta:
    """After the `attempts`-th failed attempt: 1 min, 2, 4, … at most an hour, give or take a
    tenth (so that reminders that failed together are not retried together)."""
    doublings: int = 2 ** min(attempts - 1, 16)
    base = FIRST_RETRY * doublings
    jittered = base * random.uniform(0.9, 1.1)  # noqa: S311 - not a secret
    return min(jittered, LONGEST_RETRY)


def message_id(dedupe_key: str, sender: str) -> str:
    """The same Message-ID for every copy of one reminder, whichever worker sends it."""
    domain = sender.rpartition("@")[2].strip(" >") or "localhost"
    return f"<reminder.{dedupe_key.replace(':', '.')}@{domain}>"


def error_text(error: BaseException) -> str:
    """What last_error keeps of a failed send: its kind and SMTP code, never its message (a
    server's reply may quote the address)."""
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return f"{type(error).__name__}: SMTP {error.code}"
    return type(error).__name__


@dataclass(frozen=True)
class Claimed:
    id: int
    appointment_id: int
    dedupe_key: str
    attempts: int


class ReminderSender:
    def __init__(
        self,
        executor: Executor,
        mailer: Mailer,
        settings: Settings,
        *,
        batch: int = 50,
        lease: timedelta = LEASE,
    ) -> None:
        self.reminders = ReminderRepository(executor)
        self.mailer = mailer
        self.settings = settings
        self.batch = batch
        self.lease = lease
        self.stopping = False  # set by a signal: the reminder in hand is finished, no more

    async def cycle(self) -> Counter[str]:
        """Claim up to a batch of due reminders and deal with each: how many had each outcome
        (sent, skipped, retry, failed, lost to another worker, released unsent)."""
        outcomes: Counter[str] = Counter()
        max_attempts = self.settings.reminder_max_attempts
        for row in await self.reminders.expire(max_attempts=max_attempts):
            _log(row["id"], row["appointment_id"], "failed (out of attempts)")
            outcomes["failed"] += 1
        rows = await self.reminders.claim(
            batch=self.batch, lease=self.lease, max_attempts=max_attempts
        )
        claimed = [
            Claimed(row["id"], row["appointment_id"], row["dedupe_key"], row["attempts"])
            for row in rows
        ]
        for position, reminder in enumerate(claimed):
            if self.stopping:
                for rest in claimed[position:]:
                    await self.reminders.release(rest.id, rest.attempts)
                    outcomes["released"] += 1
                break
            outcomes[await self.process(reminder)] += 1
        outcomes["claimed"] = len(claimed)
        return outcomes

    async def process(self, reminder: Claimed) -> str:
        current = await self.reminders.at_send_time(reminder.id, reminder.attempts, self.lease)
        if current is None:
            _log(reminder.id, reminder.appointment_id, "lost (another worker took it)")
            return "lost"
        if (reason := _not_to_send(current)) is not None:
            await self.reminders.skipped(reminder.id, reminder.attempts, reason)
            _log(reminder.id, reminder.appointment_id, f"skipped: {reason}")
            return "skipped"
        # Not refused: the appointment is there, and the patient has an address.
        message = self.message(cast(SendableRow, current), reminder.dedupe_key)
        try:
            await self.mailer.send(message, key=reminder.dedupe_key)
        except Exception as error:
            return await self._not_sent(reminder, error)
        await self.reminders.sent(reminder.id, reminder.attempts)
        _log(reminder.id, reminder.appointment_id, "sent")
        return "sent"

    def message(self, current: SendableRow, dedupe_key: str) -> EmailMessage:
        zone = self.settings.clinic_zone
        start = current["starts_at"].astimezone(zone)
        end = current["ends_at"].astimezone(zone)
        message = render(
            TEMPLATE,
            sender=self.settings.mail_from,
            to=current["email"],
            kind=KIND_NAMES.get(current["kind"], "appointment"),
            therapist=current["therapist"],
            date=f"{start:%A} {start.day} {start:%B %Y}",
            time=f"{start:%H:%M}",
            end=f"{end:%H:%M}",
            timezone=self.settings.clinic_timezone,
        )
        message.replace_header("Message-ID", message_id(dedupe_key, self.settings.mail_from))
        return message

    async def _not_sent(self, reminder: Claimed, error: Exception) -> str:
        what = error_text(error)
        if reminder.attempts >= self.settings.reminder_max_attempts:
            last = f"Not sent after {reminder.attempts} attempts: {what}"
            await self.reminders.failed(reminder.id, reminder.attempts, last)
            _log(reminder.id, reminder.appointment_id, f"failed: {what}", logging.WARNING)
            return "failed"
        delay = retry_delay(reminder.attempts)
        last = f"Attempt {reminder.attempts} failed: {what}"
        await self.reminders.retry(reminder.id, reminder.attempts, delay, last)
        seconds = round(delay.total_seconds())
        _log(reminder.id, reminder.appointment_id, f"retry in {seconds} s: {what}", logging.WARNING)
        return "retry"


def _not_to_send(current: AtSendTimeRow) -> str | None:
    """Why the reminder must not go out, as the appointment is now; None: send it."""
    if current["appointment"] is None:
        return "The appointment no longer exists."
    if current["status"] != "booked":
        return f"The appointment is {current['status']}."
    if current["starts_at"] != current["reminder_starts_at"]:
        return "The appointment has moved."
    if current["starts_at"] <= current["now"]:
        return "The appointment has started."
    if not current["email"]:
        return "The patient has no e-mail address."
    return None


def _log(reminder_id: int, appointment_id: int, outcome: str, level: int = logging.INFO) -> None:
    logger.log(level, "reminder %s of appointment %s: %s", reminder_id, appointment_id, outcome)

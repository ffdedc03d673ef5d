"""The measures' cycle of `python -m app worker`: the requests planned before appointments and
mailed to the patient, and the safety alerts' mails, which are never given up.

One cycle, each step in short transactions of its own (no lock is held while a mail is sent):

1. Plan: for each active `before_each` or `every_nth` assignment, a request per booked
   appointment of the patient starting within HORIZON. `every_nth` numbers the patient's
   appointments that start after the assignment was made and that took or will take place
   (booked, arrived, checked-in, fulfilled; not cancelled, missed or mistaken), by start, and
   asks before the 1st, the 1+Nth, the 1+2Nth, … (so a baseline first). A request once planned
   stays (its appointment's number may change when an earlier one is cancelled: the next plan
   follows the new numbers, the old request is kept). At most one request per assignment and
   appointment (a unique index): planning again plans nothing new.
   A request is due at the start less `lead_minutes` as an absolute duration (an interval of
   minutes, never of days), so across a change of clock it is the same number of hours before,
   not the same wall-clock time: 1440 minutes before Monday 29 March 2027 09:00 in Berlin
   (07:00 UTC, summer time) is Sunday 28 March 07:00 UTC, 09:00 local (the clocks went forward
   at 01:00 UTC that night, before it); before Monday 1 November 2027 09:00 (08:00 UTC, winter
   time) it is Sunday 31 October 08:00 UTC, 09:00 local. 2880 minutes, spanning the change, is
   Saturday 08:00 local in March and Saturday 10:00 local in October. It expires
   `expires_after_minutes` after it is due, never after the appointment ends.
2. Cancel the scheduled requests of an appointment cancelled, missed or entered in error, or of
   an ended assignment; re-plan those of a moved appointment (or a changed lead time): the same
   request, due anew.
3. Send the due requests, claimed under a lease (SKIP LOCKED): checked again at send time (the
   appointment still booked and where it was planned, the request open, the patient with an
   address), mailed with a Message-ID made from the request's id (a resend after a crash is
   the same message), marked sent; a failed send is retried with backoff up to
   REMINDER_MAX_ATTEMPTS, then failed. A patient without an address: failed at once.
4. Expire the unanswered requests past their time.
5. Send the alerts' mails (alert_notices), claimed under a lease, retried with backoff for as
   long as it takes. A recipient deactivated, deleted or without an address makes the notice
   undeliverable, and a therapist's `notify` that is undeliverable, or failed
   NOTIFY_ATTEMPTS_BEFORE_ESCALATION times, escalates its alert at once.
6. Escalate the open alerts whose time has come: one `escalate` notice per active admin with an
   address, in one transaction with the alert's `escalated_at`. An alert escalated to nobody
   who can be told is logged as an error every cycle, and escalated again to any admin who can
   be told later. What this step added is sent in the same cycle (step 5 again).

Delivery is at least once: a row is marked after the mail server took its mail, so a worker
that dies between the two leaves it claimed, and another sends it again, as the same message,
once the lease has run out. Nothing claimed is lost: it is marked, released, or its lease ends.

The worker's writes are not requests of anyone's and are not audited (as the reminders'): the
log names each row by id with its outcome, never an address, a name, an instrument or a score.
"""

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from app.core.config import Settings
from app.db.database import Database
from app.mail.mailer import Mailer
from app.mail.templates import render
from app.measures.outbox_repository import (
    NOTIFY_ATTEMPTS_BEFORE_ESCALATION,
    MeasureOutbox,
    NoticeAtSendTimeRow,
    RequestAtSendTimeRow,
)
from app.reminders.service import error_text, retry_delay

logger = logging.getLogger(__name__)

HORIZON = timedelta(days=14)
# Far longer than a send may take (MAIL_TIMEOUT_SECONDS); renewed just before each send.
LEASE = timedelta(minutes=5)
REQUEST_TEMPLATE = "measure_request"
NOTICE_TEMPLATE = "alert_notice"
REQUEST_PATH = "/measures/requests/{id}"
ALERTS_PATH = "/admin/alerts"  # the admin's Safety alerts page (app/admin/alerts.py)
WHY = {
    "notify": "A patient's questionnaire response needs your attention.",
    "escalate": "A questionnaire response that needs attention has not been acknowledged in "
    "time, and is escalated to you as an admin.",
}


@dataclass(frozen=True)
class Claimed:
    id: int
    attempts: int


@dataclass(frozen=True)
class ClaimedNotice:
    id: int
    alert_id: int
    kind: str
    attempts: int


def message_id(kind: str, row_id: int, sender: str) -> str:
    """The same Message-ID for every copy of one mail, whichever worker sends it."""
    domain = sender.rpartition("@")[2].strip(" >") or "localhost"
    return f"<{kind}.{row_id}@{domain}>"


class MeasureWorker:
    def __init__(
        self,
        database: Database,
        mailer: Mailer,
        settings: Settings,
        *,
        batch: int = 50,
        lease: timedelta = LEASE,
    ) -> None:
        self.database = database
        self.outbox = MeasureOutbox(database)
        self.mailer = mailer
        self.settings = settings
        self.batch = batch
        self.lease = lease
        self.stopping = False  # set by a signal: the mail in hand is finished, no more
        self._clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def cycle(self, now: datetime | None = None) -> Counter[str]:
        """One cycle at `now` (default: the wall clock, read afresh by each statement): how many
        rows had each outcome."""
        self._clock = (lambda: now) if now is not None else (lambda: datetime.now(UTC))
        outcomes: Counter[str] = Counter()
        outcomes["planned"] += len(await self.outbox.plan(self._clock(), HORIZON))
        outcomes["cancelled"] += len(await self.outbox.cancel(self._clock()))
        outcomes["replanned"] += len(await self.outbox.replan(self._clock()))
        await self.send_requests(outcomes)
        outcomes["expired"] += len(await self.outbox.expire(self._clock()))
        await self.send_notices(outcomes)
        if await self.escalate(outcomes):
            await self.send_notices(outcomes)
        return +outcomes  # (without the zeros)

    # Requests.

    async def send_requests(self, outcomes: Counter[str]) -> None:
        max_attempts = self.settings.reminder_max_attempts
        for row in await self.outbox.exhausted(self._clock(), max_attempts):
            _log_request(row["id"], "failed (out of attempts)", logging.WARNING)
            outcomes["requests_failed"] += 1
        rows = await self.outbox.claim_requests(
            self._clock(), batch=self.batch, lease=self.lease, max_attempts=max_attempts
        )
        claimed = [Claimed(row["id"], row["attempts"]) for row in rows]
        outcomes["claimed"] += len(claimed)
        for position, request in enumerate(claimed):
            if self.stopping:
                for rest in claimed[position:]:
                    await self.outbox.request_release(rest.id, rest.attempts)
                    outcomes["released"] += 1
                return
            outcomes[await self.send_request(request)] += 1

    async def send_request(self, request: Claimed) -> str:
        current = await self.outbox.request_at_send_time(
            request.id, request.attempts, self._clock(), self.lease
        )
        if current is None:
            _log_request(request.id, "lost (another worker took it)")
            return "lost"
        if (ended := self._not_to_send(current)) is not None:
            status, reason = ended
            if status == "released":
                await self.outbox.request_release(request.id, request.attempts)
            else:
                await self.outbox.request_ended(request.id, request.attempts, status)
            _log_request(request.id, f"{status}: {reason}")
            return f"requests_{status}"
        assert current["email"] is not None  # (_not_to_send)
        message = self.request_message(request.id, current["email"])
        try:
            await self.mailer.send(message, key=f"measure-request-{request.id}")
        except Exception as error:
            return await self._request_not_sent(request, error)
        await self.outbox.request_sent(request.id, request.attempts, self._clock())
        _log_request(request.id, "sent")
        return "requests_sent"

    def _not_to_send(self, current: RequestAtSendTimeRow) -> tuple[str, str] | None:
        """(what becomes of the request, why) when it must not go out now; None: send it."""
        if current["appointment_id"] is not None:
            if current["appointment_status"] != "booked":
                return "cancelled", f"the appointment is {current['appointment_status']}"
            if current["planned_due_at"] != current["due_at"]:
                return "released", "the appointment has moved; planned again next cycle"
        if current["expires_at"] <= self._clock():
            return "expired", "past its time"
        if current["deleted_at"] is not None:
            return "failed", "the patient's record is deleted"
        if not current["email"]:
            return "failed", "the patient has no e-mail address"
        return None

    def request_message(self, request_id: int, email: str) -> EmailMessage:
        link = self.settings.base_url + REQUEST_PATH.format(id=request_id)
        message = render(REQUEST_TEMPLATE, sender=self.settings.mail_from, to=email, link=link)
        message.replace_header(
            "Message-ID", message_id("measure-request", request_id, self.settings.mail_from)
        )
        return message

    async def _request_not_sent(self, request: Claimed, error: Exception) -> str:
        what = error_text(error)
        if request.attempts >= self.settings.reminder_max_attempts:
            await self.outbox.request_ended(request.id, request.attempts, "failed")
            _log_request(
                request.id, f"failed after {request.attempts} attempts: {what}", logging.WARNING
            )
            return "requests_failed"
        delay = retry_delay(request.attempts)
        await self.outbox.request_retry(request.id, request.attempts, self._clock(), delay)
        seconds = round(delay.total_seconds())
        _log_request(request.id, f"retry in {seconds} s: {what}", logging.WARNING)
        return "requests_retry"

    # Alert notices.

    async def send_notices(self, outcomes: Counter[str]) -> None:
        rows = await self.outbox.claim_notices(self._clock(), batch=self.batch, lease=self.lease)
        claimed = [
            ClaimedNotice(row["id"], row["alert_id"], row["kind"], row["attempts"]) for row in rows
        ]
        outcomes["claimed"] += len(claimed)
        for position, notice in enumerate(claimed):
            if self.stopping:
                for rest in claimed[position:]:
                    await self.outbox.notice_release(rest.id, rest.attempts)
                    outcomes["released"] += 1
                return
            outcomes[await self.send_notice(notice)] += 1

    async def send_notice(self, notice: ClaimedNotice) -> str:
        current = await self.outbox.notice_at_send_time(
            notice.id, notice.attempts, self._clock(), self.lease
        )
        if current is None:
            _log_notice(notice, "lost (another worker took it)")
            return "lost"
        if (reason := _undeliverable(current)) is not None:
            async with self.database.transaction() as transaction:
                outbox = MeasureOutbox(transaction)
                if not await outbox.notice_undeliverable(notice.id, notice.attempts):
                    return "lost"
                escalated = notice.kind == "notify" and await outbox.escalate_now(
                    notice.alert_id, self._clock()
                )
            then = "; the alert escalates now" if escalated else ""
            _log_notice(notice, f"undeliverable: {reason}{then}", logging.WARNING)
            return "notices_undeliverable"
        assert current["email"] is not None  # (_undeliverable)
        message = self.notice_message(notice, current["email"])
        try:
            await self.mailer.send(message, key=f"alert-notice-{notice.id}")
        except Exception as error:
            return await self._notice_not_sent(notice, error)
        await self.outbox.notice_sent(notice.id, notice.attempts, self._clock())
        _log_notice(notice, "sent")
        return "notices_sent"

    def notice_message(self, notice: ClaimedNotice, email: str) -> EmailMessage:
        message = render(
            NOTICE_TEMPLATE,
            sender=self.settings.mail_from,
            to=email,
            why=WHY[notice.kind],
            alert=notice.alert_id,
            link=self.settings.base_url + ALERTS_PATH,
        )
        message.replace_header(
            "Message-ID", message_id("alert-notice", notice.id, self.settings.mail_from)
        )
        return message

    async def _notice_not_sent(self, notice: ClaimedNotice, error: Exception) -> str:
        """Never given up: retried with backoff (at most an hour apart); a therapist's that
        keeps failing escalates its alert meanwhile."""
        what = error_text(error)
        delay = retry_delay(notice.attempts)
        async with self.database.transaction() as transaction:
            outbox = MeasureOutbox(transaction)
            if not await outbox.notice_retry(notice.id, notice.attempts, self._clock(), delay):
                return "lost"
            escalated = (
                notice.kind == "notify"
                and notice.attempts >= NOTIFY_ATTEMPTS_BEFORE_ESCALATION
                and await outbox.escalate_now(notice.alert_id, self._clock())
            )
        then = "; the alert escalates now" if escalated else ""
        seconds = round(delay.total_seconds())
        _log_notice(notice, f"retry in {seconds} s: {what}{then}", logging.WARNING)
        return "notices_retry"

    # Escalation.

    async def escalate(self, outcomes: Counter[str]) -> bool:
        """Escalate the alerts due to: whether any escalation mail was added."""
        async with self.database.transaction() as transaction:
            outbox = MeasureOutbox(transaction)
            alert_ids = await outbox.to_escalate(self._clock(), self.batch)
            live = await outbox.escalate(alert_ids, self._clock()) if alert_ids else {}
        for alert_id, notices in sorted(live.items()):
            if notices:
                logger.info("safety alert %s: escalated to %s admins", alert_id, notices)
                outcomes["escalated"] += 1
            else:
                logger.error(
                    "safety alert %s: escalated, but no active admin has an e-mail address:"
                    " nobody is told",
                    alert_id,
                )
                outcomes["unescalated"] += 1
        return outcomes["escalated"] > 0


def _undeliverable(current: NoticeAtSendTimeRow) -> str | None:
    if current["staff_id"] is None:
        return "the staff member was deleted"
    if not current["is_active"]:
        return "the staff member is deactivated"
    if not current["email"]:
        return "the staff member has no e-mail address"
    return None


def _log_request(request_id: int, outcome: str, level: int = logging.INFO) -> None:
    logger.log(level, "measure request %s: %s", request_id, outcome)


def _log_notice(notice: ClaimedNotice, outcome: str, level: int = logging.INFO) -> None:
    logger.log(
        level,
        "alert notice %s (%s) of safety alert %s: %s",
        notice.id,
        notice.kind,
        notice.alert_id,
        outcome,
    )

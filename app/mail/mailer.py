"""Sending mail: by SMTP (aiosmtplib) when MAIL_SMTP_HOST is set, otherwise into an outbox
folder, one .eml file a message, so that a development server needs no mail server.

A mail is sent after the request that asks for it has answered (`deliver`): a failure to send
is logged, never the answer of that request. Who a mail is to, and what it says, are not logged
(an address is PHI-ish, a body may hold a token): the outbox logs the file's name only.
"""

import logging
import os
import re
import tempfile
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib
import anyio

from app.core.config import Settings
from app.mail.templates import Notice

logger = logging.getLogger(__name__)


class Mailer(Protocol):
    async def send(self, message: EmailMessage, *, key: str | None = None) -> None:
        """Send `message`; `key`, when given, names it for good (a resend after a crash is the
        same message: the outbox overwrites its file rather than adding one)."""
        ...


class SmtpMailer:
    """Each message on a connection of its own: mails are rare (a reset now and then)."""

    def __init__(self, settings: Settings) -> None:
        assert settings.mail_smtp_host is not None
        self.hostname = settings.mail_smtp_host
        self.port = settings.mail_smtp_port
        self.tls = settings.mail_smtp_tls
        self.username = settings.mail_smtp_username
        self.password = settings.mail_smtp_password
        self.timeout = settings.mail_timeout_seconds

    async def send(self, message: EmailMessage, *, key: str | None = None) -> None:
        # (the key is in the message's own Message-ID, which a receiver can deduplicate by)
        await aiosmtplib.send(
            message,
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password.get_secret_value() if self.password else None,
            use_tls=self.tls == "tls",
            start_tls=self.tls == "starttls",  # never opportunistic: "none" means plain
            timeout=self.timeout,
        )


class OutboxMailer:
    """Writes each message to `folder` as `<time>-<random>.eml` (or `<key>.eml`, replacing an
    earlier copy, when it has a key), readable by its owner only, whole or not at all (written
    aside, then renamed into place)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def send(self, message: EmailMessage, *, key: str | None = None) -> None:
        name = await anyio.to_thread.run_sync(self._write, bytes(message), key)
        logger.info("mail written to the outbox: %s", name)

    def _write(self, content: bytes, key: str | None = None) -> str:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if key is not None:
            name = re.sub(r"[^A-Za-z0-9_.-]", "-", key).lstrip(".") + ".eml"
        else:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            name = f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
        # mkstemp creates the file 0600.
        descriptor, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.folder / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return name


def mailer_for(settings: Settings) -> Mailer:
    if settings.mail_smtp_host:
        return SmtpMailer(settings)
    return OutboxMailer(settings.outbox_dir)


async def deliver(mailer: Mailer, message: EmailMessage, what: str) -> None:
    """Send `message` (a `what`: "password reset"), logging a failure at warning by its kind
    only: for a background task, after the request has answered."""
    try:
        await mailer.send(message)
    except Exception as error:
        logger.warning("%s mail not sent: %s", what, type(error).__name__)


async def deliver_notices(mailer: Mailer, sender: str, notices: list[Notice]) -> None:
    """Send the notices of a committed unit of work, one by one (`deliver`)."""
    for notice in notices:
        await deliver(mailer, notice.message(sender), notice.what)

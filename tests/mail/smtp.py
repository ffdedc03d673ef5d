"""A real SMTP server for the tests (aiosmtpd, in a thread of its own), keeping what it gets."""

import logging
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from app.core.config import Settings

# aiosmtpd logs each connection at INFO from its own thread, after the test that made it has
# ended: lines in the middle of pytest's progress, not in any test's output.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class Inbox:
    """What the server accepted, parsed; or, when `refuse` is set, refusing every message."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.refuse: str | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refuse:
            return self.refuse
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def smtp_settings(settings: Settings, port: int) -> Settings:
    """`settings` sending mail to the test server on `port`."""
    return settings.model_copy(
        update={"mail_smtp_host": "127.0.0.1", "mail_smtp_port": port, "mail_smtp_tls": "none"}
    )


def mail_text(message: EmailMessage) -> str:
    text: str = message.get_content()
    return text


def reset_token(message: EmailMessage) -> str:
    """The token of a password reset mail's link."""
    match = re.search(r"/reset-password\?token=(\S+)", mail_text(message))
    assert match is not None, "no reset link in the mail"
    return match.group(1)

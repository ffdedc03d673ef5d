"""Mails from the text templates beside this module: a `Subject:` line, a blank line, the body,
with `$name` placeholders (string.Template: nothing in a value is ever interpreted). Each value
goes in as one line: a control character in a stored name (a row from before the single-line
rule) can neither split the subject header nor a line of the body."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from functools import cache
from pathlib import Path
from string import Template

from app.core.fields import one_line

TEMPLATES = Path(__file__).with_name("templates")


@cache
def _template(name: str) -> tuple[Template, Template]:
    text = (TEMPLATES / f"{name}.txt").read_text(encoding="utf-8")
    header, _, body = text.partition("\n\n")
    assert header.startswith("Subject: "), f"{name}.txt starts with its Subject: line"
    return Template(header.removeprefix("Subject: ").strip()), Template(body)


def render(name: str, *, sender: str, to: str, **values: object) -> EmailMessage:
    """The mail of template `name` to `to`, its placeholders filled with `values` (a missing
    one is a KeyError: a template and its caller disagree)."""
    subject, body = _template(name)
    values = {key: one_line(str(value)) for key, value in values.items()}
    message = EmailMessage()
    message["Subject"] = subject.substitute(values)
    message["From"] = sender
    message["To"] = to
    message["Message-ID"] = make_msgid(domain=_domain(sender))
    text = body.substitute(values)
    # Plain ASCII goes as it is, so that the link reads whole in any client and in an outbox
    # file (quoted-printable would write its "=" as "=3D" and break its long line).
    fits = text.isascii() and all(len(line) < 998 for line in text.splitlines())
    message.set_content(text, cte="7bit" if fits else "quoted-printable")
    return message


@dataclass(frozen=True)
class Notice:
    """A mail that a unit of work asks for, sent once the work has committed (never when it
    fails), from MAIL_FROM of whoever sends it."""

    template: str
    to: str
    what: str  # its kind, for a log line ("password changed")
    values: Mapping[str, object] = field(default_factory=dict)

    def message(self, sender: str) -> EmailMessage:
        return render(self.template, sender=sender, to=self.to, **self.values)


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip(" >") or "localhost"

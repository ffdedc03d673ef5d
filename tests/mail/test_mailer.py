"""Mail: SMTP through a real server, the outbox folder, the templates."""

import logging
import stat
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from app.core.config import Settings
from app.mail.mailer import OutboxMailer, SmtpMailer, deliver, mailer_for
from app.mail.templates import render
from tests.mail.smtp import free_port, smtp_server

SECRET = "Tok3n-that-must-not-be-logged"


def _message(to: str = "alice@example.org"):
    return render(
        "password_reset",
        sender="TherapyConnect <no-reply@example.org>",
        to=to,
        link=f"https://api.example.org/reset-password?token={SECRET}",
        token=SECRET,
        minutes=30,
    )


def _smtp_settings(port: int, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "mail_smtp_host": "127.0.0.1",
        "mail_smtp_port": port,
        "mail_smtp_tls": "none",
        "mail_timeout_seconds": 5,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def test_a_template_gives_subject_sender_recipient_and_body():
    message = _message()
    assert message["Subject"] == "Reset your TherapyConnect password"
    assert message["From"] == "TherapyConnect <no-reply@example.org>"
    assert message["To"] == "alice@example.org"
    assert message["Message-ID"].endswith("@example.org>")
    body = message.get_content()
    assert f"https://api.example.org/reset-password?token={SECRET}" in body
    assert "30 minutes" in body
    assert "$" not in body


def test_the_mailer_is_the_outbox_unless_an_smtp_host_is_set(tmp_path):
    assert isinstance(mailer_for(Settings(environment="test", data_dir=tmp_path)), OutboxMailer)
    blank = Settings(environment="test", data_dir=tmp_path, mail_smtp_host="")
    assert isinstance(mailer_for(blank), OutboxMailer)
    assert isinstance(mailer_for(_smtp_settings(25, data_dir=tmp_path)), SmtpMailer)


async def test_smtp_delivers_to_a_real_server(tmp_path):
    with smtp_server() as (inbox, port):
        await SmtpMailer(_smtp_settings(port, data_dir=tmp_path)).send(_message())
    [received] = inbox.messages
    assert inbox.recipients == [["alice@example.org"]]
    assert received["Subject"] == "Reset your TherapyConnect password"
    assert SECRET in received.get_content()


async def test_a_refused_or_unreachable_server_is_logged_without_the_message(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    with smtp_server() as (inbox, port):
        inbox.refuse = "554 Transaction failed"
        await deliver(SmtpMailer(_smtp_settings(port, data_dir=tmp_path)), _message(), "test")
    await deliver(SmtpMailer(_smtp_settings(free_port(), data_dir=tmp_path)), _message(), "test")
    ours = [record for record in caplog.records if record.name.startswith("app.")]
    assert [record.levelno for record in ours] == [logging.WARNING, logging.WARNING]
    for record in ours:  # (the test server's own log, mail.log, names the recipient)
        assert SECRET not in record.getMessage()
        assert "alice" not in record.getMessage()


async def test_the_outbox_writes_each_mail_whole_for_its_owner_only(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="app.mail.mailer")
    folder = tmp_path / "outbox"
    mailer = OutboxMailer(folder)
    await mailer.send(_message())
    await mailer.send(_message("bob@example.org"))
    files = sorted(folder.iterdir())
    assert [file.suffix for file in files] == [".eml", ".eml"]  # nothing left aside
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    parsed = [message_from_bytes(file.read_bytes(), policy=policy.default) for file in files]
    assert sorted(message["To"] for message in parsed) == ["alice@example.org", "bob@example.org"]
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert {Path(line.rpartition(" ")[2]).name for line in lines} == {f.name for f in files}
    assert not [line for line in lines if SECRET in line or "@" in line]


async def test_an_outbox_that_cannot_be_written_is_a_warning(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    await deliver(OutboxMailer(blocker / "outbox"), _message(), "test")
    assert [r.levelno for r in caplog.records if r.name == "app.mail.mailer"] == [logging.WARNING]


@pytest.mark.parametrize("tls", ["none", "starttls", "tls"])
def test_the_tls_setting_takes_three_values(tmp_path, tls):
    assert _smtp_settings(25, data_dir=tmp_path, mail_smtp_tls=tls).mail_smtp_tls == tls


def test_an_ascii_mail_is_written_as_it_reads():
    """The link must read whole in an outbox file: no quoted-printable "=3D" or soft breaks."""
    link = "http://127.0.0.1:8000/reset-password?token=" + "T" * 43
    message = render(
        "password_reset", sender="a@b.example", to="c@d.example", link=link, token="T", minutes=30
    )
    raw = message.as_bytes()
    assert b"Content-Transfer-Encoding: 7bit" in raw
    assert link.encode() in raw


def test_a_mail_with_other_characters_is_still_encoded():
    message = render(
        "password_reset",
        sender="a@b.example",
        to="c@d.example",
        link="l",
        token="\u00e9",
        minutes=1,
    )
    assert b"Content-Transfer-Encoding: quoted-printable" in message.as_bytes()
    assert "\u00e9" in message.get_content()


def test_a_value_goes_in_on_one_line_whatever_it_holds():
    message = render(
        "appointment_reminder",
        sender="TherapyConnect <no-reply@example.org>",
        to="alice@example.org",
        kind="video\r\nBcc: evil@example.org",
        therapist="Dr.\x1bRivera\u2028X",
        date="Monday 31 March 2031",
        time="09:00",
        end="09:50",
        timezone="Europe/Berlin",
    )
    assert message["Subject"] == (
        "Reminder: your video Bcc: evil@example.org on Monday 31 March 2031 at 09:00"
    )
    assert message["Bcc"] is None
    assert "with Dr. Rivera X:\n" in message.get_content()

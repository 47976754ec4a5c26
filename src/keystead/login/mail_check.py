"""The mail settings as an administrator may see them, and a test mail that reports the
mail server's own answer.

Mail is otherwise sent in the background (``keystead.login.outbox``), so a wrong
setting shows up late, as a failed reset mail. The test mail goes out at once,
through the configured backend's connection, and says what the server replied:
its reply to the message (``250 ... queued as ...``) or why it refused or could not
be reached. The password is never shown; only whether one is set.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.http import HttpRequest

from keystead.directory import audit
from keystead.directory.models import Outcome, User
from keystead.directory.rules import is_email
from keystead.login import mail_templates
from keystead.login.outbox import describe_failure


@dataclass(frozen=True)
class MailCheck:
    """How a test mail went: ``delivered`` and the server's answer in its own words."""

    delivered: bool
    answer: str


def described_settings() -> list[tuple[str, str]]:
    """The mail settings as label/value rows, for the console (no password, ever)."""
    if not settings.EMAIL_CONFIGURED:
        return [("Mail server", "none: mail is written to the server's log instead "
                                "(set KEYSTEAD_EMAIL_URL to send it)")]
    security = ("TLS from the start (SMTPS)" if settings.EMAIL_USE_SSL
                else "STARTTLS" if settings.EMAIL_USE_TLS else "none: sent in clear")
    return [
        ("Mail server", f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"),
        ("Encryption", security),
        ("User", settings.EMAIL_HOST_USER or "none (no sign-in to the server)"),
        ("Password", "set" if settings.EMAIL_HOST_PASSWORD else "not set"),
        ("Sender address", settings.DEFAULT_FROM_EMAIL),
        ("Time limit", f"{settings.EMAIL_TIMEOUT} s per step"),
    ]


def _smtp_send(backend: SmtpBackend, message: EmailMessage, recipient: str) -> str:
    """Send through the backend's own connection, step by step, so the server's reply to
    the message itself can be shown (the backend's send_messages keeps it to itself)."""
    backend.open()
    try:
        connection = backend.connection
        connection.ehlo_or_helo_if_needed()
        code, reply = connection.mail(message.from_email)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, message.from_email)
        code, reply = connection.rcpt(recipient)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        code, reply = connection.data(message.message().as_bytes(linesep="\r\n"))
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        return f"{code} {reply.decode(errors='replace')}"
    finally:
        backend.close()


def send_test_mail(recipient: str, *, actor: User, request: HttpRequest | None = None
                   ) -> MailCheck:
    """Send a test mail to ``recipient`` now; audited as ``mail.test``."""
    recipient = recipient.strip()
    if not is_email(recipient):
        return MailCheck(False, f"{recipient!r} is not an email address; type one like "
                                "ada@example.com.")
    subject, body = mail_templates.render("test", {})  # worded like every other mail
    message = EmailMessage(subject, body.reveal(), settings.DEFAULT_FROM_EMAIL, [recipient])
    backend = get_connection(fail_silently=False)
    try:
        if isinstance(backend, SmtpBackend):
            check = MailCheck(True, f"the mail server answered "
                                    f"{_smtp_send(backend, message, recipient)}")
        else:
            backend.send_messages([message])
            check = MailCheck(True, "no mail server is set: the mail was written to the "
                                    "server's log" if not settings.EMAIL_CONFIGURED
                              else f"handed to {type(backend).__module__}")
    except Exception as exc:  # every failure is an answer to show, never an error page
        check = MailCheck(False, describe_failure(exc))
    audit.record("mail.test", request=request, actor=actor,
                 outcome=Outcome.SUCCESS if check.delivered else Outcome.FAILURE,
                 detail={"to": recipient, "answer": check.answer})
    return check

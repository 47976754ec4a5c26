"""The outbox: mail leaves through a table and a background sender, never from a request.

Why: a request that talks to the mail server waits for it. A slow server made
the reset form answer in 306 ms for a real address and 2 ms for an unknown
one (telling anyone who times it which addresses have accounts), and a hung
server held every web worker until the operating system gave up. So:

* ``enqueue`` adds a row (``OutgoingMail``) in the caller's transaction: a
  rolled-back sign-in mails nothing, a committed one cannot lose its mail. The
  body holds credentials (reset links, sign-in codes), so it is stored
  encrypted (``keystead.crypto``, purpose ``mail``) and erased once the mail
  was sent or given up on.
* After the commit, ``wake`` nudges this process's sender: a daemon thread
  started on first use, so ``keystead serve`` (several worker processes) and
  ``make run`` need no extra process. ``keystead mail send-pending`` runs the
  same delivery once, for cron or an operator.
* A sender claims one row at a time. On PostgreSQL the row stays locked
  (``SELECT ... FOR UPDATE SKIP LOCKED``) while it is sent and marked, so any
  number of senders in any number of processes never send one mail twice and
  never wait for each other; a sender that dies mid-way rolls back and the mail
  is tried again. SQLite has no row locks (and holding its one write lock
  during SMTP would stop every sign-in), so there a conditional UPDATE marks the
  row ``sending`` for a lease much longer than one SMTP exchange may take.
* Every SMTP exchange is bounded by ``EMAIL_TIMEOUT`` (``KEYSTEAD_EMAIL_TIMEOUT``).
  A failed attempt is retried with doubling waits (30 s, 1, 2, 4, 8 min); after
  ``MAX_ATTEMPTS`` the mail is given up on, audited as ``mail.failed``, and
  ``keystead check`` warns. By then a sign-in code or reset link in it has
  expired anyway.

Delivery is at least once, not exactly once: if the process dies after the
mail server accepted a mail but before the row was marked, the mail goes again.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from keystead import crypto
from keystead.directory import audit
from keystead.directory.models import Outcome, User
from keystead.login.models import OutgoingMail
from keystead.outbox_queue import Delivery, Outbox, Sender, backoff
from keystead.secret import Secret

log = logging.getLogger(__name__)

PURPOSE = "mail"
MAX_ATTEMPTS = 6
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(minutes=30)
FAILED_ACTION = "mail.failed"
Status = OutgoingMail.Status


def enqueue(recipient: str, subject: str, body: Secret | str, *,
            user: User | None = None) -> OutgoingMail:
    """Queue one plain-text mail in the caller's transaction; the sender wakes after commit."""
    row = OutgoingMail.objects.create(
        user=user if user is not None and user.pk else None, recipient=recipient,
        subject=subject[:200], body_encrypted=crypto.encrypt(body, PURPOSE))
    # Outside a transaction this runs at once. robust: a sender that cannot start must
    # not turn a committed sign-in into an error; the row waits for the next sender.
    transaction.on_commit(wake, robust=True)
    return row


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s, 1, 2, 4, 8 ... min, capped."""
    return backoff(attempts, FIRST_RETRY, LONGEST_RETRY)


def claim_lease() -> timedelta:
    """How long a SQLite sender owns a row it marked ``sending``: longer than the slowest
    SMTP exchange (each of its steps may take up to EMAIL_TIMEOUT), so only a dead
    sender's row is taken over."""
    return timedelta(seconds=10 * float(settings.EMAIL_TIMEOUT or 10) + 60)


def describe_failure(exc: BaseException) -> str:
    """A short reason for ``last_error``, logs and the audit event.

    Built from the mail server's answer or the network error, never from the
    message itself, so it cannot carry the link or code the body holds.
    """
    if isinstance(exc, smtplib.SMTPResponseException):
        answer = exc.smtp_error
        text = answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)
        reason = f"the mail server answered {exc.smtp_code} {text}"
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = ", ".join(str(code) for code, _ in exc.recipients.values())
        reason = f"the mail server refused the recipient ({codes})"
    elif isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        # smtplib reports a read that timed out as SMTPServerDisconnected.
        reason = f"no answer from the mail server within {settings.EMAIL_TIMEOUT} s"
    elif isinstance(exc, smtplib.SMTPException):
        reason = f"{type(exc).__name__}: {exc}"
    elif isinstance(exc, OSError):
        reason = f"cannot reach the mail server: {exc.strerror or type(exc).__name__}"
    elif isinstance(exc, crypto.DecryptionError):
        reason = "the stored mail cannot be decrypted (SECRET_KEY changed?)"
    else:
        reason = f"unexpected error {type(exc).__name__}"
    return " ".join(reason.split())[:300]


def _attempt(row: OutgoingMail, delivery: Delivery) -> None:
    """Send one claimed row and record the outcome on it (the caller holds the claim)."""
    now = timezone.now()
    row.attempts += 1
    row.last_attempt_at = now
    try:
        body = crypto.decrypt(row.body_encrypted, PURPOSE)
        EmailMessage(row.subject, body.reveal(), None, [row.recipient]).send()
    except Exception as exc:  # any failure of one mail is recorded; none stops the sender
        row.last_error = describe_failure(exc)
        permanent = isinstance(exc, crypto.DecryptionError)
        if permanent or row.attempts >= MAX_ATTEMPTS:
            row.status, row.body_encrypted = Status.FAILED, ""
            delivery.failed += 1
            log.error("gave up on mail %s to user %s after %d attempts: %s",
                      row.pk, row.user_id, row.attempts, row.last_error)
            audit.record(FAILED_ACTION, actor_label="system", target=row.user,
                         outcome=Outcome.FAILURE,
                         detail={"mail_id": row.pk, "subject": row.subject,
                                 "recipient": row.recipient, "attempts": row.attempts,
                                 "error": row.last_error})
        else:
            row.status = Status.QUEUED
            row.next_attempt_at = now + retry_delay(row.attempts)
            delivery.retrying += 1
            log.warning("mail %s to user %s not sent (attempt %d of %d, next at %s): %s",
                        row.pk, row.user_id, row.attempts, MAX_ATTEMPTS,
                        row.next_attempt_at.isoformat(timespec="seconds"), row.last_error)
    else:
        row.status, row.body_encrypted, row.last_error = Status.SENT, "", ""
        row.sent_at = timezone.now()
        delivery.sent += 1
    row.save(update_fields=["status", "body_encrypted", "attempts", "last_attempt_at",
                            "next_attempt_at", "last_error", "sent_at"])


MAIL = Outbox(OutgoingMail, _attempt, claim_lease)
#: Send the mail due now, in this thread (``keystead mail send-pending``, tests).
deliver_due = MAIL.deliver_due
seconds_until_due = MAIL.seconds_until_due


def waiting(now: datetime | None = None) -> int:
    """Mail due or being sent right now (not mail waiting for a later retry)."""
    now = now or timezone.now()
    return OutgoingMail.objects.filter(
        Q(status=Status.QUEUED, next_attempt_at__lte=now) | Q(status=Status.SENDING)).count()


@dataclass(frozen=True)
class Health:
    """What ``keystead check`` reports about the outbox."""

    failed: int
    stuck: int
    last_error: str


FAILED_WINDOW = timedelta(days=7)
STUCK_AFTER = timedelta(minutes=15)


def health(now: datetime | None = None) -> Health:
    """Mail given up on in the last 7 days, and mail waiting for more than 15 minutes."""
    now = now or timezone.now()
    failed = OutgoingMail.objects.filter(status=Status.FAILED,
                                         last_attempt_at__gte=now - FAILED_WINDOW)
    stuck = OutgoingMail.objects.filter(status__in=[Status.QUEUED, Status.SENDING],
                                        created_at__lte=now - STUCK_AFTER)
    latest = (OutgoingMail.objects.exclude(last_error="").exclude(status=Status.SENT)
              .order_by("-last_attempt_at").values_list("last_error", flat=True).first())
    return Health(failed=failed.count(), stuck=stuck.count(), last_error=latest or "")


#: This process's mail sender thread (off with ``MAIL_SENDER_THREAD = False``).
sender = Sender(MAIL, name="keystead-mail", enabled_setting="MAIL_SENDER_THREAD",
                stop_wait=lambda: float(settings.EMAIL_TIMEOUT or 10) + 5)


def wake() -> None:
    sender.wake()

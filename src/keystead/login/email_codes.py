"""The emailed sign-in code: the second factor everyone with a mailbox can use.

* A code has ``LogonPolicy.email_code_length`` digits (4-10) drawn with
  ``secrets.randbelow``, works for ``VALID_FOR`` (10 minutes) and once.
* A person has at most one live code (``EmailCode``, one row each): sending a
  new one makes the previous one useless. Sending does not touch the failure
  count, so asking for codes again and again buys no extra guesses.
* Mail goes out at most once every ``RESEND_INTERVAL`` (30 seconds) per
  person, unless the previous code was used (a sign-in completed since). The
  check runs under a row lock on the person, so it holds with any number of
  web processes.
* Only an HMAC-SHA256 of the code (keyed with SECRET_KEY) is stored. The code
  itself is never logged, audited or shown: it exists in the mail only.
* A wrong code is counted by ``second_step.fail`` exactly like a wrong
  password; the account locks at ``LogonPolicy.code_max_attempts``.

Email is the weakest second factor (see docs/second-factors.md): a mailbox is
often protected by the same password, and mail travels through servers the
installation does not control.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.models import Outcome, User
from keystead.login import factors, mail
from keystead.login.models import EmailCode
from keystead.policy.models import LogonPolicy
from keystead.policy.strategies import mail_can_be_sent
from keystead.secret import Secret

KEY = "email"
VALID_FOR = timedelta(minutes=10)
RESEND_INTERVAL = timedelta(seconds=30)
MAX_CODE_CHARS = 20  # longer input is not a code of ours; don't bother hashing it
SEND_ACTION = "login.email_code.send"


class Check(enum.Enum):
    OK = "ok"
    WRONG = "wrong code"
    EXPIRED = "expired code"


@dataclass(frozen=True)
class Sending:
    sent: bool
    wait_seconds: int = 0


def hash_code(user: User, code: str) -> str:
    """The stored form of a code: keyed, so the table alone cannot be brute-forced."""
    message = f"keystead.email-code:{user.pk}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def new_code(length: int) -> Secret:
    return Secret(f"{secrets.randbelow(10 ** length):0{length}d}")


def available(user: User) -> bool:
    """A person can receive a code when they have an address and mail can be sent."""
    return bool(user.email) and mail_can_be_sent()


def has_live_code(user: User) -> bool:
    return EmailCode.objects.filter(user=user, used_at__isnull=True,
                                    expires_at__gt=timezone.now()).exists()


def send_code(user: User, request: HttpRequest | None = None) -> Sending:
    """Mail a new code unless one went out less than 30 seconds ago."""
    now = timezone.now()
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # one sender at a time
        row = EmailCode.objects.filter(user=user).first()
        # A used code means a completed sign-in since: no flood to hold back.
        if row is not None and row.used_at is None and now - row.sent_at < RESEND_INTERVAL:
            wait = math.ceil((row.sent_at + RESEND_INTERVAL - now).total_seconds())
            audit.record(SEND_ACTION, request=request, actor=user, target=user,
                         outcome=Outcome.DENIED,
                         detail={"reason": "sent less than 30 seconds ago", "wait": wait})
            return Sending(False, wait)
        length = LogonPolicy.current().email_code_length
        code = new_code(length)
        EmailCode.objects.update_or_create(user=user, defaults={
            "code_hash": hash_code(user, code.reveal()), "sent_at": now,
            "expires_at": now + VALID_FOR, "used_at": None})
        audit.record(SEND_ACTION, request=request, actor=user, target=user,
                     detail={"digits": length, "valid_minutes": VALID_FOR.seconds // 60,
                             "replaced_previous": row is not None})
        # Into the outbox with the code's row: both are kept, or neither.
        mail.send("email_code", user, code=code.reveal(), minutes=VALID_FOR.seconds // 60)
    return Sending(True)


def check_code(user: User, entered: str) -> Check:
    """Use the person's live code if ``entered`` is it. The caller counts failures."""
    entered = "".join(entered.split())[:MAX_CODE_CHARS]
    digest = hash_code(user, entered)
    row = EmailCode.objects.filter(user=user, used_at__isnull=True).first()
    if row is None or not entered.isdigit() or not hmac.compare_digest(digest, row.code_hash):
        return Check.WRONG
    now = timezone.now()
    if row.expires_at <= now:
        return Check.EXPIRED
    # One statement takes the code, so two requests with the same code cannot both win.
    taken = EmailCode.objects.filter(pk=row.pk, used_at__isnull=True, code_hash=digest,
                                     expires_at__gt=now).update(used_at=now)
    return Check.OK if taken else Check.WRONG


def reset(user: User) -> int:
    """Forget any code waiting for the person (email codes need no enrolment)."""
    deleted, _ = EmailCode.objects.filter(user=user).delete()
    return deleted


def register() -> None:
    factors.register(factors.FactorMethod(
        key=KEY, label="Code sent to your email", url_name="login_verify_email",
        available=available, reset=reset, order=80, strong=False))

"""Password reset by an emailed single-use link.

The flow, and why each step is the way it is:

* Anyone may ask for a link for any address. The answer never says whether
  the account exists (``ANSWER``), and an unknown address costs the same work
  up to the answer: a token is generated and hashed and the same rows are read.
  The mail is rendered and queued *after* the answer (the caller runs
  ``ResetMail.send`` once the response is on its way), and a background sender
  delivers it (``keystead.login.outbox``): neither the work of queueing it nor
  the time a mail server takes tells an onlooker that the address is real.
* A link holds 256 random bits. Only their SHA-256 is stored (``ResetToken``),
  so the database never holds a working link.
* One account has at most one live link: a new request replaces the old row,
  so the newest link wins. The same row's ``created_at`` limits mail to one a
  minute per account; the check runs under a row lock on the user, so it holds
  with any number of web processes.
* A link works for ``VALID_FOR`` (30 minutes), once, and only while the account
  is active. Using it sets the password through ``directory.services.set_password``
  — the same policy check, history, audit and ``password_changed`` signal (other
  sessions end, issued tokens are revoked) as every other door.
* A reset does not unlock a locked account and does not sign anyone in.

The clear token is never logged or audited: events name the link by its row id.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from keystead.directory import audit, services
from keystead.directory.authorization import Actor
from keystead.directory.models import Outcome, User
from keystead.directory.rules import typed_name_for_audit
from keystead.login import mail
from keystead.login.models import ResetToken
from keystead.secret import Secret

log = logging.getLogger(__name__)

VALID_FOR = timedelta(minutes=30)
MAIL_INTERVAL = timedelta(seconds=60)
TOKEN_BYTES = 32  # 256 bits
MAX_TOKEN_CHARS = 128  # anything longer is not one of ours; don't hash megabytes

ANSWER = ("If an account has that email or user name, we sent a link to its email "
          "address. The link works for 30 minutes.")
REQUEST_ACTION = "user.password.reset.request"
RESET_ACTION = "user.password.reset"


def hash_token(token: str) -> str:
    """The stored form of a link's secret."""
    return hashlib.sha256(token[:MAX_TOKEN_CHARS].encode()).hexdigest()


def new_token() -> Secret:
    return Secret(secrets.token_urlsafe(TOKEN_BYTES))


def link_for(token: Secret) -> Secret:
    """The address mailed to the person (a Secret too: it opens their account)."""
    return Secret(f"{settings.BASE_URL}/reset/{token.reveal()}")


@dataclass(frozen=True)
class ResetMail:
    """A reset mail ready to go; the caller sends it after answering the request."""

    user: User
    link: Secret

    def send(self) -> None:
        """Queue it for the background sender. Never raises: the person already has their
        answer (and can ask again if queueing failed)."""
        try:
            mail.send("reset", self.user, link=self.link.reveal(),
                      minutes=int(VALID_FOR.total_seconds() // 60))
        except Exception:
            log.exception("could not queue the password-reset mail to user %s", self.user.pk)


def issue_link(user: User, digest: str, request: HttpRequest | None) -> ResetToken:
    """Store a new link for ``user`` (its secret's ``digest``); earlier links stop working.
    Called inside the transaction that holds the person's row lock."""
    ResetToken.objects.filter(user=user).delete()  # the newest link wins
    return ResetToken.objects.create(user=user, token_hash=digest, created_at=timezone.now(),
                                     requested_ip=audit.client_ip(request))


def _latest_request_at(user_pk: int | None):
    return (ResetToken.objects.filter(user_id=user_pk)
            .order_by("-created_at").values_list("created_at", flat=True).first())


def request_reset(
    name: str, *, request: HttpRequest | None = None, door: str = "portal"
) -> ResetMail | None:
    """Handle "send me a reset link" for a typed email or user name; the mail to send,
    if any (always to the account's email address).

    Whatever the outcome, the caller shows ``ANSWER``. The audit log records
    what really happened (sent, unknown address, disabled, rate-limited).
    """
    typed = (name or "").strip()[:254]
    token = new_token()
    digest = hash_token(token.reveal())  # done for unknown addresses too: equal work
    now = timezone.now()
    with transaction.atomic():
        # The row lock serialises requests for one account across processes, so two
        # requests in the same instant cannot both pass the one-a-minute check.
        user = (User.objects.select_for_update().signing_in_as(typed).first()
                if typed else None)
        detail = {"door": door, "email": typed_name_for_audit(typed, known=user is not None)}
        latest = _latest_request_at(user.pk if user else None)
        if user is None or not user.is_active:
            reason = "unknown user" if user is None else "account disabled"
            audit.record(REQUEST_ACTION, request=request, actor_label="anonymous", target=user,
                         outcome=Outcome.FAILURE, detail={**detail, "reason": reason})
            return None
        if latest is not None and now - latest < MAIL_INTERVAL:
            audit.record(REQUEST_ACTION, request=request, actor_label="anonymous", target=user,
                         outcome=Outcome.DENIED,
                         detail={**detail, "reason": "a link was mailed less than a minute ago"})
            return None
        row = issue_link(user, digest, request)
        audit.record(REQUEST_ACTION, request=request, actor_label="anonymous", target=user,
                     detail={**detail, "link_id": row.pk})
    return ResetMail(user, link_for(token))


class LinkUnusable(Exception):
    """The link does not open a reset: unknown or replaced, used, expired, or disabled."""

    def __init__(self, reason: str, row: ResetToken | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.row = row


def _check(row: ResetToken | None) -> ResetToken:
    if row is None:
        raise LinkUnusable("unknown or replaced link")
    if row.used_at is not None:
        raise LinkUnusable("link already used", row)
    if timezone.now() - row.created_at >= VALID_FOR:
        raise LinkUnusable("link expired", row)
    if not row.user.is_active:
        raise LinkUnusable("account disabled", row)
    return row


def _deny(exc: LinkUnusable, request: HttpRequest | None, door: str) -> None:
    user = exc.row.user if exc.row is not None else None
    audit.record(RESET_ACTION, request=request, actor_label="anonymous", target=user,
                 outcome=Outcome.DENIED,
                 detail={"door": door, "reason": exc.reason,
                         "link_id": exc.row.pk if exc.row is not None else None})


def open_link(token: str, *, request: HttpRequest | None = None,
              door: str = "portal") -> ResetToken | None:
    """The link row for a token from a mailed address, or None (and an audit Event)."""
    row = ResetToken.objects.select_related("user").filter(token_hash=hash_token(token)).first()
    try:
        return _check(row)
    except LinkUnusable as exc:
        _deny(exc, request, door)
        return None


def usable_link(link_id: int | None, *, request: HttpRequest | None = None,
                door: str = "portal") -> ResetToken | None:
    """Re-check a link opened earlier in this browser (by row id), as ``open_link`` does."""
    row = (ResetToken.objects.select_related("user").filter(pk=link_id).first()
           if link_id else None)
    try:
        return _check(row)
    except LinkUnusable as exc:
        _deny(exc, request, door)
        return None


def end_links(sender: Any = None, *, user: User, **kwargs: Any) -> None:
    """A new password or a new email address: links mailed before stop working."""
    ResetToken.objects.filter(user=user, used_at__isnull=True).delete()


def complete_reset(
    link_id: int, password: Secret, *, request: HttpRequest | None = None, door: str = "portal"
) -> User:
    """Set the new password through a link; it is then used up, with every other link.

    Raises ``RuleViolation`` listing every policy rule the password breaks (the
    link stays usable, so the person can try again), or ``LinkUnusable`` (audited).
    """
    try:
        with transaction.atomic():
            # Locked, so two submissions of one link cannot both set a password.
            row = _check(ResetToken.objects.select_for_update().select_related("user")
                         .filter(pk=link_id).first())
            if request is not None:  # the person acts, having proved they read their mail
                request.audit_actor_label = f"{row.user.email} (reset link)"
            # Used first: the new password ends every other link (``end_links``).
            row.used_at = timezone.now()
            row.save(update_fields=["used_at"])
            services.set_password(row.user, password, actor=Actor.themselves(row.user),
                                  request=request, door=door, action=RESET_ACTION)
    except LinkUnusable as exc:
        _deny(exc, request, door)
        raise
    return row.user

"""Failed-sign-in counting and account locks, correct with many processes.

A failure is counted by one conditional ``UPDATE`` of the user's row, so
concurrent failures from several web processes are counted exactly once each,
and exactly one of them takes the lock and sends the notice (see
``register_failure``; ``tests/login/test_lockout_concurrency.py`` proves it
with several processes on PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Case, DateTimeField, F, Q, QuerySet, Value, When
from django.http import HttpRequest
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.authorization import Action, Actor, require
from keystead.directory.models import Outcome, User
from keystead.login import mail
from keystead.policy.lockout import LockoutRules, locked_filter


def release_if_expired(user: User | None, now: datetime,
                       account: QuerySet[User] | None = None) -> bool:
    """End a lock whose period has passed; True if this call ended it.

    ``account`` selects the row (default: ``user``'s); the password sign-in passes
    the typed name's, so the statement runs whether or not the account exists.
    """
    account = User.objects.filter(pk=user.pk) if account is None else account
    released = account.filter(locked_at__isnull=False, locked_until__lte=now).update(
        locked_at=None, locked_until=None, failed_logins=0)
    if released and user is not None:
        user.locked_at = user.locked_until = None
        user.failed_logins = 0
        audit.record("user.unlock", actor_label="system", target=user,
                     detail={"reason": "lockout period ended"})
    return bool(released)


def sign_in_refusal(user: User, now: datetime) -> str | None:
    """Why this account may not sign in now ("account locked", "account disabled"), or None.

    Every sign-in (password, passkey, any door) asks this one question, after
    releasing a lock whose period has passed (``release_if_expired``).
    """
    if user.is_locked(now):
        return "account locked"
    if not user.is_active:
        return "account disabled"
    return None


LOCKED_NOW = ("Your account is locked after too many failed attempts. Wait for the lock to "
              "end, or ask an administrator to unlock it.")


def refused_while_locked(user: User, *, request: HttpRequest | None, action: str) -> str | None:
    """A signed-in person asked to prove their password (to change it, to remove a factor)
    while their account is locked: nothing is checked, since a guess then would not be
    counted. The message to show (audited as ``action``), or None when not locked."""
    if not user.is_locked():
        return None
    audit.record(action, request=request, actor=user, target=user, outcome=Outcome.DENIED,
                 detail={"reason": "account locked"})
    return LOCKED_NOW


def register_failure(
    user: User, rules: LockoutRules, *, request: HttpRequest | None = None,
    reason: str = "wrong password",
) -> bool:
    """Count one failed attempt on ``user``; lock at the threshold. True if it locked now."""
    return _count_failure(User.objects.filter(pk=user.pk), user, rules, request=request,
                          reason=reason)


def count_failed_sign_in(typed: str, user: User | None, rules: LockoutRules, *,
                         request: HttpRequest | None = None) -> bool:
    """A refused password sign-in for the ``typed`` name, whatever the reason: the same
    statements run for an unknown, locked, disabled or merely mistaken account (so all
    answers take the same time), and only an active, unlocked account's count moves."""
    return _count_failure(User.objects.signing_in_as(typed).filter(is_active=True), user, rules,
                          request=request, reason="wrong password")


def _count_failure(account: QuerySet[User], user: User | None, rules: LockoutRules, *,
                   request: HttpRequest | None, reason: str) -> bool:
    """One conditional UPDATE adds one to the count and takes the lock when the new count
    reaches the threshold, and does nothing while the account is locked (attempts
    against a locked account are refused, not counted). The row's write lock, held
    until the transaction ends, serialises concurrent failures: each is counted once,
    the count read back is this update's own, and exactly one caller sees the count
    that locks."""
    now = timezone.now()
    changes: dict = {"failed_logins": F("failed_logins") + 1}
    if rules.max_failures:
        reaches = Q(failed_logins__gte=rules.max_failures - 1)
        for field, value in (("locked_at", now), ("locked_until", rules.locked_until(now))):
            changes[field] = Case(When(reaches, then=Value(value)), default=F(field),
                                  output_field=DateTimeField(null=True))
    with transaction.atomic():
        counted = account.exclude(locked_filter(now)).update(**changes)
        state = account.values_list("failed_logins", "locked_at", "locked_until").first()
    if not counted or user is None or state is None:
        return False  # unknown, disabled or locked already: not counted
    user.failed_logins, user.locked_at, user.locked_until = state
    locks = rules.should_lock(user.failed_logins)
    if locks:
        audit.record("user.lock", request=request, actor_label="system", target=user,
                     outcome=Outcome.DENIED,
                     detail={"failures": user.failed_logins, "reason": reason,
                             "until": user.locked_until.isoformat() if user.locked_until
                             else None})
        transaction.on_commit(lambda: mail.send_lock_notice(user))
    return locks


def admit(user: User) -> bool:
    """The last step of every successful sign-in: whether the account is, at this moment,
    still active and unlocked, the failure count starting again if so.

    Checking the lock before the password is not enough: wrong guesses verified at the
    same time as a right one (argon2id takes tens of milliseconds) may lock the account
    meanwhile, and a guess in flight when the lock lands must not get in. One
    conditional UPDATE answers and resets at once; its row lock, held to the end of the
    sign-in's transaction, makes any failure counted meanwhile wait for it."""
    admitted = User.objects.filter(pk=user.pk, is_active=True).exclude(
        locked_filter(timezone.now())).update(failed_logins=0) == 1
    if admitted:
        user.failed_logins = 0
    return admitted


def unlock(user: User, *, actor: Actor, request: HttpRequest | None = None,
           door: str = "admin") -> bool:
    """An administrator ends a lock (and the failure count). True if it was locked."""
    require(actor, Action.UNLOCK, user)
    was_locked = user.is_locked()
    User.objects.filter(pk=user.pk).update(locked_at=None, locked_until=None, failed_logins=0)
    user.locked_at = user.locked_until = None
    user.failed_logins = 0
    audit.record("user.unlock", request=request, target=user,
                 detail={"door": door, "was_locked": was_locked})
    return was_locked

"""Failed-sign-in counting and account locks, correct with many processes.

Every change happens under a row lock on the user (``SELECT ... FOR UPDATE``),
so concurrent failures from several web processes are counted exactly once
each, and exactly one of them takes the lock and sends the notice.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.models import Outcome, User
from keystead.login import mail
from keystead.policy.lockout import LockoutRules, is_locked


def release_if_expired(user: User, now: datetime) -> bool:
    """End a lock whose period has passed; True if this call ended it."""
    released = User.objects.filter(
        pk=user.pk, locked_at__isnull=False, locked_until__lte=now,
    ).update(locked_at=None, locked_until=None, failed_logins=0)
    if released:
        user.locked_at = user.locked_until = None
        user.failed_logins = 0
        audit.record("user.unlock", actor_label="system", target=user,
                     detail={"reason": "lockout period ended"})
    return bool(released)


def register_failure(
    user: User, rules: LockoutRules, *, request: HttpRequest | None = None,
    reason: str = "wrong password",
) -> bool:
    """Count one failed attempt; lock the account at the threshold. True if it locked now."""
    now = timezone.now()
    with transaction.atomic():
        row = User.objects.select_for_update().only(
            "pk", "failed_logins", "locked_at", "locked_until").get(pk=user.pk)
        if is_locked(row.locked_at, row.locked_until, now):
            return False
        row.failed_logins += 1
        locks = rules.should_lock(row.failed_logins)
        if locks:
            row.locked_at = now
            row.locked_until = rules.locked_until(now)
        User.objects.filter(pk=row.pk).update(
            failed_logins=row.failed_logins, locked_at=row.locked_at,
            locked_until=row.locked_until)
    user.failed_logins, user.locked_at, user.locked_until = (
        row.failed_logins, row.locked_at, row.locked_until)
    if locks:
        audit.record("user.lock", request=request, actor_label="system", target=user,
                     outcome=Outcome.DENIED,
                     detail={"failures": row.failed_logins, "reason": reason,
                             "until": row.locked_until.isoformat() if row.locked_until else None})
        transaction.on_commit(lambda: mail.send_lock_notice(user))
    return locks


def clear_failures(user: User) -> None:
    """A successful sign-in starts the count again."""
    if user.failed_logins:
        User.objects.filter(pk=user.pk).update(failed_logins=0)
        user.failed_logins = 0


def unlock(user: User, *, request: HttpRequest | None = None, door: str = "admin") -> bool:
    """An administrator ends a lock (and the failure count). True if it was locked."""
    was_locked = user.is_locked()
    User.objects.filter(pk=user.pk).update(locked_at=None, locked_until=None, failed_logins=0)
    user.locked_at = user.locked_until = None
    user.failed_logins = 0
    audit.record("user.unlock", request=request, target=user,
                 detail={"door": door, "was_locked": was_locked})
    return was_locked

"""Failed-sign-in counting and account locks, correct with many processes.

A failure is counted by one atomic ``UPDATE ... RETURNING`` on the user's row,
so concurrent failures from several web processes are counted exactly once
each, and exactly one of them takes the lock and sends the notice (see
``register_failure``; ``tests/login/test_lockout_concurrency.py`` proves it
with several processes on PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.models import Outcome, User
from keystead.login import mail
from keystead.policy.lockout import LockoutRules


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
    """Count one failed attempt; lock the account at the threshold. True if it locked now.

    One statement does it all: add one to the count, take the lock if the new
    count reaches the threshold, and do nothing at all while the account is
    locked (attempts against a locked account are refused, not counted). The
    row's write lock serialises concurrent statements, and PostgreSQL
    re-evaluates the WHERE and SET of a waiting UPDATE against the row version
    the other one committed (SQLite has one writer at a time), so every failure
    is counted once and exactly one caller sees the count that locks.

    Why not ``SELECT ... FOR UPDATE`` then ``UPDATE`` in a transaction (the
    first version; equally correct): that is four round trips to the database
    (BEGIN, SELECT, UPDATE, COMMIT) against one here. The wrong-password answer
    paid for them and the unknown-account answer did not, so the two were
    about 15% apart in time on one machine and would drift further apart with
    a database across a network: a timing signal for who has an account.
    """
    now = timezone.now()
    until = rules.locked_until(now)
    threshold = rules.max_failures or None  # NULL: the lock condition is never true
    ops = connection.ops
    column = {name: ops.quote_name(User._meta.get_field(name).column)
              for name in ("failed_logins", "locked_at", "locked_until")}
    count, locked_at, locked_until = column.values()
    # Only quoted identifiers from the model are formatted in; every value is a parameter.
    sql = (
        f"UPDATE {ops.quote_name(User._meta.db_table)} SET {count} = {count} + 1, "  # noqa: S608
        f"{locked_at} = CASE WHEN {count} + 1 >= %s THEN %s ELSE {locked_at} END, "
        f"{locked_until} = CASE WHEN {count} + 1 >= %s THEN %s ELSE {locked_until} END "
        f"WHERE {ops.quote_name(User._meta.pk.column)} = %s AND NOT ("
        f"{locked_at} IS NOT NULL AND ({locked_until} IS NULL OR {locked_until} > %s)) "
        f"RETURNING {count}"
    )
    stamp, end = ops.adapt_datetimefield_value(now), ops.adapt_datetimefield_value(until)
    with connection.cursor() as cursor:
        cursor.execute(sql, [threshold, stamp, threshold, end, user.pk, stamp])
        row = cursor.fetchone()
    if row is None:  # locked already (or no such user): not counted
        return False
    user.failed_logins = row[0]
    locks = rules.should_lock(user.failed_logins)
    if locks:
        user.locked_at, user.locked_until = now, until
        audit.record("user.lock", request=request, actor_label="system", target=user,
                     outcome=Outcome.DENIED,
                     detail={"failures": user.failed_logins, "reason": reason,
                             "until": until.isoformat() if until else None})
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

"""Lockout and expiry arithmetic as pure functions over plain values (and their query form)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q


@dataclass(frozen=True)
class LockoutRules:
    """How many consecutive failures lock an account, and for how long.

    ``max_failures`` 0 never locks; ``lock_minutes`` 0 locks until an
    administrator unlocks.
    """

    max_failures: int = 10
    lock_minutes: int = 15

    def strictest(self, other: LockoutRules) -> LockoutRules:
        thresholds = [n for n in (self.max_failures, other.max_failures) if n > 0]
        periods = (self.lock_minutes, other.lock_minutes)
        return LockoutRules(
            max_failures=min(thresholds) if thresholds else 0,
            lock_minutes=0 if 0 in periods else max(periods),
        )

    def should_lock(self, failures: int) -> bool:
        return self.max_failures > 0 and failures >= self.max_failures

    def locked_until(self, now: datetime) -> datetime | None:
        """When a lock taken ``now`` ends; None means only an administrator ends it."""
        return now + timedelta(minutes=self.lock_minutes) if self.lock_minutes else None


def is_locked(locked_at: datetime | None, locked_until: datetime | None, now: datetime) -> bool:
    """A lock is in force when it was taken and either has no end or has not ended yet.

    A lock whose period has passed counts as ended even before a sign-in releases it.
    ``locked_filter`` is the same rule for database queries.
    """
    return locked_at is not None and (locked_until is None or locked_until > now)


def locked_filter(now: datetime) -> Q:
    """``is_locked`` as a filter on the ``locked_at``/``locked_until`` fields."""
    return Q(locked_at__isnull=False) & (Q(locked_until__isnull=True) | Q(locked_until__gt=now))


@dataclass(frozen=True)
class ExpiryRules:
    """Passwords expire ``expire_days`` after they were set (0 = never)."""

    expire_days: int = 0
    warn_days: int = 14

    def strictest(self, other: ExpiryRules) -> ExpiryRules:
        periods = [n for n in (self.expire_days, other.expire_days) if n > 0]
        return ExpiryRules(
            expire_days=min(periods) if periods else 0,
            warn_days=max(self.warn_days, other.warn_days),
        )

    def expires_at(self, changed_at: datetime | None) -> datetime | None:
        if not self.expire_days or changed_at is None:
            return None
        return changed_at + timedelta(days=self.expire_days)

    def is_expired(self, changed_at: datetime | None, now: datetime) -> bool:
        expiry = self.expires_at(changed_at)
        return expiry is not None and expiry <= now

    def days_left_to_warn(self, changed_at: datetime | None, now: datetime) -> int | None:
        """Whole days until expiry when inside the warning window, else None."""
        expiry = self.expires_at(changed_at)
        if expiry is None or expiry <= now:
            return None
        left = expiry - now
        return left.days if left <= timedelta(days=self.warn_days) else None

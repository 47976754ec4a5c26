"""Which accounts are locked now, as a database filter.

The query form of ``keystead.policy.lockout.is_locked``, shared by the
console's "locked" filter, ``GET /api/v1/users?locked=`` and
``keystead user list --locked`` so the three agree. A lock whose period has
passed but that no sign-in has released yet counts as not locked, as it does
at sign-in.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.utils import timezone


def locked_now(now: datetime | None = None) -> Q:
    """Locks in force: taken, and either without end or not yet over."""
    now = now or timezone.now()
    return Q(locked_at__isnull=False) & (Q(locked_until__isnull=True) | Q(locked_until__gt=now))

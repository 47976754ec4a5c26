"""Slowing down one address that fails to sign in to many accounts.

Lockout protects one account from many guesses; it does nothing against one
address trying a few passwords on each of many accounts. Here the failures
from one client address (``audit.client_ip``, which honours
``KEYSTEAD_TRUSTED_PROXIES``) across every account are counted in the audit
log itself: failed password sign-ins (any door) and wrong second-factor codes
within the last ``KEYSTEAD_THROTTLE_WINDOW_SECONDS``. At
``KEYSTEAD_THROTTLE_FAILURES`` of them, the address gets HTTP 429 on the
sign-in form, the password grant, the second-factor pages and the reset form
until enough of its failures have aged out of the window. Being throttled is
audited (``login.throttled``) but never counts as a failure, and never locks
an account: the owner of an account can still sign in from anywhere else.
Every web process sees the same count, because it is read from the database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.models import Event, Outcome

# The audit events that count: a refused password, a wrong second-factor code. The same
# condition makes the partial index the count reads (``directory.Event``), so the count
# touches only failures, however many sign-ins succeed from the address.
COUNTED = Q(outcome=Outcome.FAILURE, action__in=("login", "login.second_factor"))


@dataclass(frozen=True)
class Throttled:
    """The address is throttled; it may try again in ``retry_after`` seconds."""

    retry_after: int

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after / 60))
        return (f"Too many failed sign-ins from your network. Try again in {minutes} "
                f"minute{'s' if minutes != 1 else ''}.")


def check(request: HttpRequest | None, *, door: str) -> Throttled | None:
    """Whether this request's address is throttled now (audited if so)."""
    limit = settings.THROTTLE_FAILURES
    address = audit.client_ip(request)
    if not limit or address is None:
        return None
    now = timezone.now()
    window = timedelta(seconds=settings.THROTTLE_WINDOW_SECONDS)
    recent = Event.objects.filter(COUNTED, client_ip=address, created_at__gt=now - window)
    if recent.count() < limit:
        return None
    # Allowed again once the oldest failures that make up the limit have aged out.
    oldest = recent.order_by("-created_at").values_list("created_at", flat=True)[limit - 1]
    retry_after = max(1, math.ceil((oldest + window - now).total_seconds()))
    audit.record("login.throttled", request=request, actor_label="anonymous",
                 outcome=Outcome.DENIED, detail={"door": door, "retry_after": retry_after})
    return Throttled(retry_after)

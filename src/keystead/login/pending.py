"""A sign-in that succeeded but still needs a new password before it gets a session.

The person proved their password, so the browser's session remembers who they
are for a few minutes — without logging them in — while they choose a new one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.http import HttpRequest

from keystead.directory.models import User

SESSION_KEY = "keystead.pending_password_change"
VALID_SECONDS = 600


@dataclass(frozen=True)
class PendingChange:
    user: User
    reasons: list[str]
    next_url: str


def start(request: HttpRequest, user: User, reasons: list[str] | tuple[str, ...],
          next_url: str) -> None:
    request.session.cycle_key()
    request.session[SESSION_KEY] = {
        "user": user.pk, "reasons": list(reasons), "next": next_url, "at": time.time(),
    }


def current(request: HttpRequest) -> PendingChange | None:
    data = request.session.get(SESSION_KEY)
    if not data or time.time() - data["at"] > VALID_SECONDS:
        return None
    user = User.objects.filter(pk=data["user"], is_active=True).first()
    if user is None:
        return None
    return PendingChange(user, data["reasons"], data["next"])


def finish(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)

"""A sign-in held in the browser's session between steps, without a session login.

The person proved their password, but still needs a new password (the forced
change) or a second factor before they are signed in. The session remembers
who they are for ten minutes; ``hold``/``held``/``release`` are the one way both
steps keep that state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from keystead.directory.models import User

SESSION_KEY = "keystead.pending_password_change"
VALID_SECONDS = 600


def hold(request: HttpRequest, key: str, user: User, **extra: Any) -> None:
    """Remember ``user`` (and ``extra``) under ``key``, under a fresh session key."""
    request.session.cycle_key()
    request.session[key] = {"user": user.pk, "at": time.time(), **extra}


def held(request: HttpRequest, key: str) -> tuple[User, dict[str, Any]] | None:
    """The held person (still active) and the extra values, unless expired or absent."""
    data = request.session.get(key)
    if not data or time.time() - data["at"] > VALID_SECONDS:
        return None
    user = User.objects.filter(pk=data["user"], is_active=True).first()
    return (user, data) if user is not None else None


def release(request: HttpRequest, key: str) -> None:
    request.session.pop(key, None)


@dataclass(frozen=True)
class PendingChange:
    user: User
    reasons: list[str]
    next_url: str


def start(request: HttpRequest, user: User, reasons: list[str] | tuple[str, ...],
          next_url: str) -> None:
    hold(request, SESSION_KEY, user, reasons=list(reasons), next=next_url)


def current(request: HttpRequest) -> PendingChange | None:
    found = held(request, SESSION_KEY)
    if found is None:
        return None
    user, data = found
    return PendingChange(user, data["reasons"], data["next"])


def finish(request: HttpRequest) -> None:
    release(request, SESSION_KEY)

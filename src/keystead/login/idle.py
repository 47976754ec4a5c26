"""Ending a browser session after a while without requests (beside its absolute lifetime).

Django's session cookie lives ``SESSION_COOKIE_AGE`` from the sign-in. A
session left open on a shared computer should also end once nobody has used
it for ``SESSION_IDLE_SECONDS`` (``KEYSTEAD_SESSION_IDLE_MINUTES``). The time
of the last request is kept in the session, rewritten at most once a minute so
that an active session is not saved on every request.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from keystead.directory import audit

LAST_SEEN = "keystead.last_seen"
_GRANULARITY = 60  # seconds between rewrites of the last-seen time


class IdleSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        idle = settings.SESSION_IDLE_SECONDS
        if idle and request.user.is_authenticated:
            now = int(time.time())
            last = request.session.get(LAST_SEEN)
            if last is not None and now - last > idle:
                audit.record("logout", request=request, target=request.user,
                             detail={"reason": "idle", "idle_minutes": (now - last) // 60})
                logout(request)
            elif last is None or now - last >= _GRANULARITY:
                request.session[LAST_SEEN] = now
        return self.get_response(request)

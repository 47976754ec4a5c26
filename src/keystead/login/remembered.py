"""Remembered browsers: skip the second factor on a browser that passed it recently.

* Granted only when the person ticks "Remember this browser" on a second-factor
  page and the policy's ``remember_days`` is above 0.
* The browser gets a 256-bit random token in an HttpOnly, SameSite=Lax cookie
  (Secure on HTTPS); the database keeps only its SHA-256.
* A remembered browser is bound to one person: the token counts only for the
  person it was granted to.
* **Its period is fixed when it is granted**: ``expires_at`` is computed from
  ``remember_days`` at that moment and never recomputed. Changing the setting
  affects only browsers remembered afterwards (``period_end`` is the rule).
* The person lists and revokes them in the portal; a password change or reset
  revokes them all (``directory.signals.password_changed``), and so does an
  administrator's "Reset second factors".

Grant, use and revocation are audited; the token never is.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.audit import client_ip
from keystead.directory.models import User
from keystead.login.models import RememberedBrowser
from keystead.policy.models import LogonPolicy

COOKIE = "keystead_remembered"
TOKEN_BYTES = 32  # 256 bits
MAX_TOKEN_CHARS = 100


def period_end(granted_at: datetime, days: int) -> datetime:
    """When a browser remembered at ``granted_at`` for ``days`` days must ask again.

    The only input is the period in force at the grant: a later change of the
    setting neither shortens nor lengthens it.
    """
    return granted_at + timedelta(days=days)


def hash_token(token: str) -> str:
    return hashlib.sha256(token[:MAX_TOKEN_CHARS].encode()).hexdigest()


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
            ("Linux", "Linux"))


def describe_agent(user_agent: str) -> str:
    """A short "Chrome on Linux" from a User-Agent header, for the list of browsers."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), "")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), "")
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or system
    cleaned = re.sub(r"[^\w ./;()-]", "", user_agent)[:60]
    return cleaned or "Unknown browser"


def remember_days() -> int:
    return LogonPolicy.current().remember_days


def grant(request: HttpRequest, response: HttpResponse, user: User) -> RememberedBrowser | None:
    """Remember this browser for the policy's period (none if it is 0); sets the cookie."""
    days = remember_days()
    if days <= 0:
        return None
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    row = RememberedBrowser.objects.create(
        user=user, token_hash=hash_token(token), created_at=now,
        expires_at=period_end(now, days), days=days,
        user_agent=describe_agent(request.headers.get("User-Agent", ""))[:200],
        ip=client_ip(request))
    response.set_cookie(COOKIE, token, max_age=days * 86400, httponly=True,
                        secure=request.is_secure(), samesite="Lax")
    audit.record("login.remembered_browser.grant", request=request, actor=user, target=user,
                 detail={"browser": row.pk, "days": days, "expires": row.expires_at.isoformat(),
                         "agent": row.user_agent})
    return row


def current(request: HttpRequest, user: User | None = None) -> RememberedBrowser | None:
    """The live remembered browser this request comes from (for ``user``, if given)."""
    token = request.COOKIES.get(COOKIE, "")
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    rows = RememberedBrowser.objects.filter(token_hash=hash_token(token), revoked_at__isnull=True,
                                            expires_at__gt=timezone.now())
    if user is not None:
        rows = rows.filter(user=user)
    return rows.first()


def use(request: HttpRequest, user: User) -> bool:
    """True if this browser is remembered for ``user`` now; records the use."""
    row = current(request, user)
    if row is None:
        return False
    now = timezone.now()
    RememberedBrowser.objects.filter(pk=row.pk).update(last_used_at=now)
    audit.record("login.remembered_browser.use", request=request, actor=user, target=user,
                 detail={"browser": row.pk, "expires": row.expires_at.isoformat()})
    return True


def live_for(user: User) -> Any:
    return RememberedBrowser.objects.filter(user=user, revoked_at__isnull=True,
                                            expires_at__gt=timezone.now())


def revoke(row: RememberedBrowser, *, request: HttpRequest | None = None, reason: str,
           door: str = "portal") -> bool:
    """Stop one browser skipping the second factor; True if it was live."""
    done = RememberedBrowser.objects.filter(pk=row.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason[:60])
    if done:
        audit.record("login.remembered_browser.revoke", request=request, target=row.user,
                     detail={"browser": row.pk, "reason": reason, "door": door})
    return bool(done)


def revoke_all(user: User, *, request: HttpRequest | None = None, reason: str,
               door: str = "system") -> int:
    """Revoke every live remembered browser of ``user``; one audit event lists them."""
    ids = list(live_for(user).values_list("pk", flat=True))
    if not ids:
        return 0
    count = RememberedBrowser.objects.filter(pk__in=ids, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason[:60])
    audit.record("login.remembered_browser.revoke", request=request, target=user,
                 detail={"browsers": ids, "reason": reason, "door": door})
    return count


def on_password_changed(sender: Any = None, *, user: User, request: HttpRequest | None = None,
                        **kwargs: Any) -> None:
    """A new password ends every remembered browser: whoever knew the old one is out."""
    revoke_all(user, request=request, reason="password changed")


def on_access_ended(sender: Any = None, *, user: User, request: HttpRequest | None = None,
                    reason: str = "access ended", **kwargs: Any) -> None:
    """Signed out everywhere, or the account disabled: no browser skips the factor any more."""
    revoke_all(user, request=request, reason=reason)


def revoke_own(user: User, pk: int, *, request: HttpRequest | None = None,
               door: str = "portal") -> tuple[RememberedBrowser, bool] | None:
    """The person forgets one of their own remembered browsers.

    The browser is looked up among ``user``'s own rows only, so nobody reaches
    another person's browser by its number: None when there is no such row of
    theirs. Else the row, and whether it was live (False: already revoked).
    """
    row = RememberedBrowser.objects.filter(pk=pk, user=user).first()
    if row is None:
        return None
    return row, revoke(row, request=request, reason="revoked by its owner", door=door)

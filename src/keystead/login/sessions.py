"""Signed-in sessions: which belong to whom, and signing a person out everywhere.

Sessions are Django's database sessions; ``SignedInSession`` records their
owner when they sign in. Ending a person's access (``sign_out_everywhere`` by
an administrator or by themselves, or the account disabled) deletes their
sessions and sends ``access_ended``, on which remembered browsers and issued
tokens are revoked too.

A person also sees their own live sessions (``sessions_of``) and ends one of
them, or all but the one they are using (``end_session``, ``end_other_sessions``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.audit import client_ip
from keystead.directory.authorization import Action, Actor, require
from keystead.directory.models import User
from keystead.directory.signals import access_ended, sessions_ended
from keystead.login.idle import LAST_SEEN
from keystead.login.models import SignedInSession
from keystead.login.remembered import describe_agent


def on_signed_in(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    """``user_logged_in``: remember whose session this is and when it signed in.

    ``login`` gives a session a new key, except when the same person signs in again
    in it (``prompt=login``): then the time moves, as ``max_age`` and ``auth_time``
    must see the latest sign-in. One INSERT … ON CONFLICT either way."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key is not None:
        SignedInSession.objects.bulk_create(
            [SignedInSession(session_id=key, user=user, signed_in_at=timezone.now())],
            update_conflicts=True, unique_fields=["session"],
            update_fields=["user", "signed_in_at"])


def end_sessions(user: User) -> int:
    """Delete every stored session of ``user``; how many there were."""
    keys = list(SignedInSession.objects.filter(user=user).values_list("session_id", flat=True))
    _, deleted = Session.objects.filter(session_key__in=keys).delete()
    return deleted.get(Session._meta.label, 0)


@transaction.atomic
def sign_out_everywhere(user: User, *, actor: Actor, request: HttpRequest | None = None,
                        door: str = "api") -> int:
    """End every session, remembered browser and issued token of ``user``; sessions ended."""
    require(actor, Action.SIGN_OUT, user)
    answers = access_ended.send(sender=User, user=user, request=request,
                                reason="signed out everywhere")
    ended = dict(answers).get(on_access_ended, 0)  # the sessions this module's receiver ended
    audit.record("user.sign_out_everywhere", request=request, target=user,
                 detail={"door": door, "sessions": ended})
    return ended


def on_access_ended(sender: Any, user: User, **kwargs: Any) -> int:
    """``access_ended`` (signed out everywhere, an account disabled): the person's
    sessions end; how many."""
    return end_sessions(user)


# --- a person's own sessions (the portal's "Where you're signed in") -----------------------

#: Where a session's browser and address are noted when it signs in (inside the session's
#: own data, so the note goes when the session goes and needs no column of its own).
BROWSER_NOTE = "keystead.signed_in_from"


@dataclass(frozen=True)
class OwnSession:
    """One live session of a person, as the person sees it.

    ``handle`` names the session on a page. It is a hash of the session key, never
    the key itself: the key is the cookie that *is* the session, and a page that
    listed keys would hand every session to whoever could read the page.
    """

    handle: str
    signed_in_at: datetime
    last_seen: datetime | None
    expires: datetime
    browser: str
    ip: str
    current: bool


def session_handle(session_key: str) -> str:
    return hashlib.sha256(f"keystead-session:{session_key}".encode()).hexdigest()[:32]


def note_browser(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    """``user_logged_in``: keep a short "Firefox on Linux" and the address in the session,
    so the person can tell their sessions apart in the portal."""
    session = getattr(request, "session", None)
    if session is not None:
        session[BROWSER_NOTE] = {
            "browser": describe_agent(request.headers.get("User-Agent", ""))[:200],
            "ip": client_ip(request) or ""}


def _live_sessions(user: User) -> list[tuple[SignedInSession, dict]]:
    """The person's stored sessions that have not run out (absolute or idle limit),
    each with its decoded data."""
    now = timezone.now()
    idle = settings.SESSION_IDLE_SECONDS
    rows = []
    for row in SignedInSession.objects.filter(user=user, session__expire_date__gt=now
                                              ).select_related("session"):
        data = row.session.get_decoded()
        last = data.get(LAST_SEEN)
        if idle and last is not None and now.timestamp() - last > idle:
            continue  # ends at its next request anyway; not "signed in" any more
        rows.append((row, data))
    return rows


def sessions_of(user: User, current_key: str | None = None) -> list[OwnSession]:
    """The person's live sessions, the newest sign-in first."""
    found = []
    for row, data in _live_sessions(user):
        note = data.get(BROWSER_NOTE) or {}
        last = data.get(LAST_SEEN)
        found.append(OwnSession(
            handle=session_handle(row.session_id), signed_in_at=row.signed_in_at,
            last_seen=datetime.fromtimestamp(last, tz=UTC) if last is not None else None,
            expires=row.session.expire_date, browser=note.get("browser") or "Unknown browser",
            ip=note.get("ip") or "", current=row.session_id == current_key))
    return sorted(found, key=lambda s: s.signed_in_at, reverse=True)


@transaction.atomic
def end_session(user: User, handle: str, *, actor: Actor, request: HttpRequest | None = None,
                door: str = "portal") -> bool:
    """End one of ``user``'s sessions, named by its handle; True if it was live."""
    require(actor, Action.SIGN_OUT, user)
    for row, data in _live_sessions(user):
        if session_handle(row.session_id) == handle:
            note = data.get(BROWSER_NOTE) or {}
            sessions_ended.send(sender=User, user=user, session_data=[data])
            row.session.delete()  # its SignedInSession row goes with it
            audit.record("user.session.end", request=request, actor=actor.user, target=user,
                         detail={"door": door, "browser": note.get("browser", ""),
                                 "ip": note.get("ip", ""), "session": handle})
            return True
    return False


@transaction.atomic
def end_other_sessions(user: User, current_key: str | None, *, actor: Actor,
                       request: HttpRequest | None = None, door: str = "portal") -> int:
    """End every session of ``user`` but the one with ``current_key``; how many ended.

    Unlike ``sign_out_everywhere`` this keeps the asking browser signed in and leaves
    remembered browsers and application tokens alone: it is the person tidying up."""
    require(actor, Action.SIGN_OUT, user)
    keys = list(SignedInSession.objects.filter(user=user).exclude(session_id=current_key or "")
                .values_list("session_id", flat=True))
    ending = Session.objects.filter(session_key__in=keys)
    sessions_ended.send(sender=User, user=user,
                        session_data=[session.get_decoded() for session in ending])
    _, deleted = ending.delete()
    ended = deleted.get(Session._meta.label, 0)
    audit.record("user.session.end_others", request=request, actor=actor.user, target=user,
                 detail={"door": door, "sessions": ended})
    return ended

"""OpenID Connect Back-Channel Logout 1.0: telling applications that a Keystead session ended.

The pieces:

* ``sid``: each browser session gets a random identifier the first time it asks
  an application for a code (``session_sid``), kept in the session's own data, so
  it is stable for the session, secret-free (it is not the session key, which is
  the session's credential) and gone when the session goes. The ID token states it;
  it travels with the code (``IssuedCode.sid``) and the token family
  (``FamilySignIn.sid``), so refreshed ID tokens keep the original one.
* ``SessionApplication``: the applications that exchanged a code in a session, so
  the session's end knows whom to tell (``note_session_application``).
* When a session ends, the receivers below queue one ``LogoutDelivery`` per
  application with a ``backchannel_logout_uri``, in the caller's transaction: the
  portal's and the console's sign-out (``user_logged_out``: that session), "sign out
  everywhere" and disabling (``access_ended``: every session of the person) and a
  password change (``password_changed``: every session but the one that changed it,
  which Django keeps signed in). Queuing never talks to the application, so a slow
  or dead application cannot slow down or break a sign-out.
* A sender delivers the queue (``deliver_due``) with the mail outbox's machinery
  (``keystead.outbox_queue``): woken after the commit in a daemon thread of this
  process, and polling for retries. Each row is claimed with ``SELECT … FOR UPDATE
  SKIP LOCKED`` on PostgreSQL (a conditional UPDATE with a lease on SQLite), so
  senders in any number of processes never POST one logout twice. Each POST is
  bounded by ``TIMEOUT`` seconds; a failure is retried with doubling waits and
  given up on after ``MAX_ATTEMPTS``. Every outcome is audited as
  ``oidc.backchannel_logout`` (never the token).

The logout token (§2.4) is built at each attempt and never stored: ``iss``, ``aud``,
``iat``, ``exp`` (two minutes), ``jti``, ``events``, ``sub`` and ``sid`` (``sid`` when
the ending concerns one session; always when the application requires it), signed
with the application's ID-token key, header ``typ`` ``logout+jwt``; never ``nonce``.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.outbox_queue import Delivery, Outbox, Sender, backoff
from keystead.providers.oidc import id_tokens
from keystead.providers.oidc.claims import subject_for
from keystead.providers.oidc.models import LogoutDelivery, SessionApplication, settings_for

log = logging.getLogger(__name__)

#: Where a browser session keeps its sid (in the session's own data).
SID_KEY = "keystead.oidc.sid"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
ACTION = "oidc.backchannel_logout"
TOKEN_SECONDS = 120
MAX_ATTEMPTS = 5
FIRST_RETRY = timedelta(seconds=10)
LONGEST_RETRY = timedelta(minutes=10)
Status = LogoutDelivery.Status


def timeout() -> float:
    """Seconds one POST may take (``OIDC_BACKCHANNEL_LOGOUT_TIMEOUT``, default 5)."""
    return float(getattr(settings, "OIDC_BACKCHANNEL_LOGOUT_TIMEOUT", 5.0))


# --- the session's sid ---------------------------------------------------------------------

def session_sid(request: HttpRequest) -> str:
    """This browser session's sid, made on first use: 128 random bits, base64url."""
    session = request.session
    sid = session.get(SID_KEY)
    if not sid:
        sid = secrets.token_urlsafe(16)
        session[SID_KEY] = sid
    return sid


def note_session_application(sid: str, user, application, issuer: str) -> None:
    """An application got tokens in session ``sid`` from ``issuer`` (the ID token's
    ``iss``, which the logout token repeats): told when the session ends. One INSERT."""
    if sid and user is not None and user.pk:
        SessionApplication.objects.bulk_create(
            [SessionApplication(sid=sid, user=user, application=application,
                                issuer=issuer[:255])],
            ignore_conflicts=True)


# --- queuing -------------------------------------------------------------------------------

def _queue(rows: Iterable[SessionApplication], user, reason: str, *, whole_person: bool) -> int:
    """Queue the logouts for ``rows`` (then forget them); how many were queued.

    ``whole_person``: every session of the person ended, so an application that does not
    need sid gets one token for the person (``sub`` only) rather than one per session.
    """
    by_application: dict[int, list[SessionApplication]] = defaultdict(list)
    for row in rows:
        by_application[row.application_id].append(row)
    queued: list[LogoutDelivery] = []
    for entries in by_application.values():
        application = entries[0].application
        client_settings = settings_for(application)
        if not client_settings.backchannel_logout_uri:
            continue
        sids = sorted({entry.sid for entry in entries})
        if whole_person and not client_settings.backchannel_logout_session_required:
            sids = [""]
        subject = subject_for(user, application)
        queued += [LogoutDelivery(application=application, user=user, subject=subject,
                                  issuer=entries[0].issuer, sid=sid, reason=reason[:100])
                   for sid in sids]
    SessionApplication.objects.filter(pk__in=[row.pk for row in rows]).delete()
    if queued:
        LogoutDelivery.objects.bulk_create(queued)
        transaction.on_commit(wake, robust=True)
    return len(queued)


def _rows(user, **filters: Any) -> list[SessionApplication]:
    """The rows to queue logouts for, locked until the caller's transaction ends: of two
    endings at once (a sign-out and "sign out everywhere"), the second waits and then
    finds the rows gone, so no application is told twice."""
    return list(SessionApplication.objects.select_for_update(of=("self",))
                .filter(user=user, **filters)
                .select_related("application", "application__keystead_settings"))


def session_ended(request: HttpRequest, user) -> int:
    """This browser session ends (signed out): queue its applications' logouts."""
    session = getattr(request, "session", None)
    sid = session.get(SID_KEY) if session is not None else None
    if not sid or user is None:
        return 0
    return _queue(_rows(user, sid=sid), user, "signed out", whole_person=False)


def sessions_ended(user, sids: list[str]) -> int:
    """Some of ``user``'s sessions (by sid) were ended from the list of their sessions:
    queue those sessions' applications' logouts."""
    if not sids:
        return 0
    return _queue(_rows(user, sid__in=sids), user, "session ended", whole_person=False)


def person_signed_out(user, reason: str, *, keep_sid: str | None = None) -> int:
    """Every session of ``user`` ends (but ``keep_sid``'s): queue their logouts."""
    rows = [row for row in _rows(user) if row.sid != keep_sid]
    return _queue(rows, user, reason, whole_person=keep_sid is None)


# --- the logout token ----------------------------------------------------------------------

def logout_token(delivery: LogoutDelivery, now: datetime) -> str:
    """The signed logout token for one delivery (§2.4), made fresh for each attempt."""
    application = delivery.application
    claims: dict[str, Any] = {
        "iss": delivery.issuer,
        "aud": application.client_id,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + TOKEN_SECONDS,
        "jti": str(uuid.uuid4()),
        "events": {EVENT: {}},
        "sub": delivery.subject,
    }
    if delivery.sid:
        claims["sid"] = delivery.sid
    return id_tokens.sign(claims, algorithm=application.algorithm,
                          id_token_algorithm=settings_for(application).id_token_algorithm,
                          typ="logout+jwt")


# --- delivery ------------------------------------------------------------------------------

def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: 10 s, 20 s, 40 s ... capped at 10 min."""
    return backoff(attempts, FIRST_RETRY, LONGEST_RETRY)


def _post(uri: str, token: str) -> str | None:
    """POST the token (§2.5); None when the application answered 2xx, else why not.
    The reason never contains the token."""
    try:
        answer = httpx.post(uri, data={"logout_token": token}, timeout=timeout(),
                            headers={"Cache-Control": "no-store"}, follow_redirects=False)
    except httpx.TimeoutException:
        return f"no answer within {timeout():g} s"
    except httpx.HTTPError as exc:
        return f"cannot reach the application: {type(exc).__name__}"
    if 200 <= answer.status_code < 300:
        return None
    return f"the application answered HTTP {answer.status_code}"


def _attempt(row: LogoutDelivery, delivery: Delivery) -> None:
    """Send one claimed row and store the outcome (the caller holds the claim)."""
    now = timezone.now()
    row.attempts += 1
    row.last_attempt_at = now
    uri = settings_for(row.application).backchannel_logout_uri
    try:
        error = _post(uri, logout_token(row, now)) if uri else "no back-channel logout URI"
    except Exception as exc:  # signing failed (no key for the application's algorithm)
        error = f"cannot sign the logout token: {type(exc).__name__}"
    detail = {"client_id": row.application.client_id, "attempt": row.attempts,
              "reason": row.reason, "session": bool(row.sid)}
    if error is None:
        row.status, row.last_error, row.sent_at = Status.SENT, "", now
        delivery.sent += 1
        audit.record(ACTION, actor_label="system", target=row.user, detail=detail)
    else:
        row.last_error = error[:300]
        final = not uri or row.attempts >= MAX_ATTEMPTS
        if final:
            row.status = Status.FAILED
            delivery.failed += 1
            log.error("gave up on back-channel logout %s to %s after %d attempts: %s",
                      row.pk, row.application.client_id, row.attempts, error)
        else:
            row.status = Status.QUEUED
            row.next_attempt_at = now + retry_delay(row.attempts)
            delivery.retrying += 1
        audit.record(ACTION, actor_label="system", target=row.user, outcome=Outcome.FAILURE,
                     detail={**detail, "error": row.last_error, "given_up": final})
    row.save(update_fields=["status", "attempts", "last_attempt_at", "next_attempt_at",
                            "last_error", "sent_at"])


def _lease() -> timedelta:
    """How long a SQLite sender owns a row it marked ``sending``: past two timeouts."""
    return timedelta(seconds=2 * timeout() + 60)


OUTBOX = Outbox(LogoutDelivery, _attempt, _lease,
                related=("application__keystead_settings", "user"))
#: POST the logouts due now, in this thread (tests, and the sender below).
deliver_due = OUTBOX.deliver_due
claim_next = OUTBOX.claim_next
seconds_until_due = OUTBOX.seconds_until_due


#: This process's sender thread (off with ``OIDC_BACKCHANNEL_LOGOUT_THREAD = False``).
sender = Sender(OUTBOX, name="keystead-backchannel-logout",
                enabled_setting="OIDC_BACKCHANNEL_LOGOUT_THREAD",
                stop_wait=lambda: timeout() + 5)


def wake() -> None:
    sender.wake()


#: How far back ``keystead check`` looks for back-channel logouts given up on.
FAILED_WINDOW = timedelta(days=7)


def given_up(now: datetime | None = None) -> tuple[int, str]:
    """Back-channel logouts given up on in the last ``FAILED_WINDOW``, and the latest
    one's error (which names no token)."""
    now = now or timezone.now()
    failed = LogoutDelivery.objects.filter(status=Status.FAILED,
                                           last_attempt_at__gte=now - FAILED_WINDOW)
    latest = failed.order_by("-last_attempt_at").values_list(
        "application__name", "last_error").first()
    if latest is None:  # the usual answer, in one statement
        return 0, ""
    return failed.count(), f"{latest[0]}: {latest[1]}"

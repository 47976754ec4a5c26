"""The second step of signing in: after the password, before the session.

A person whose password was right but who must still pass a second factor is
remembered in the browser's session for ten minutes — without being signed in
— while they pass one of the methods the registry offers them. A wrong code
counts against the account exactly like a wrong password (same counter, same
lock, same unlock paths), with the policy's own threshold for codes.

The failure count is cleared only when a sign-in is complete (here), not
when the password alone was right: otherwise typing the password again
would buy a fresh set of guesses at the code.

A browser the person asked to remember (``login.remembered``) skips the
second factor until the period it was granted with ends. Any factor's page
offers it with the ``portal/_remember_browser.html`` snippet: a ticked
``remember`` box reaches ``succeed``.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect

from keystead.directory import audit
from keystead.directory.models import Outcome, User
from keystead.login import factors, lockout, remembered
from keystead.login import pending as pending_state
from keystead.policy.services import EffectivePolicy, effective_policy

SESSION_KEY = "keystead.pending_second_factor"
#: Session key: when (Unix time) this session's sign-in passed a second factor, so that
#: applications can be told (SAML's REFEDS MFA class). A later sign-in in the same session
#: without one is newer than it, so it never carries over (``passed_second_factor``).
SECOND_FACTOR_AT = "keystead.second_factor_at"
#: Session key: which second factor that was (``succeed``'s method names, or
#: ``PASSWORDLESS_PASSKEY``), so applications can be told how (OIDC's ``amr``).
SECOND_FACTOR_METHOD = "keystead.second_factor_method"
#: The method noted for a sign-in made with a passkey alone, no password before it.
PASSWORDLESS_PASSKEY = "passwordless-passkey"
SESSION_BACKEND = "django.contrib.auth.backends.ModelBackend"
REFUSED_AT_THE_LAST_STEP = ("This account cannot sign in now. Try again later, or ask an "
                            "administrator.")


@dataclass(frozen=True)
class PendingSignIn:
    user: User
    next_url: str


def required_for(user: User, policy: EffectivePolicy | None = None) -> bool:
    """Whether a password sign-in must be followed by a second factor: the installation's
    strategy or one of the person's groups demands one (``effective_policy``, or the
    ``policy`` already read), or the person set up an authenticator app or a passkey."""
    return (policy or effective_policy(user)).second_factor or factors.enrolled_in_any(user)


def after_password(request: HttpRequest, user: User, next_url: str, *,
                   required: bool | None = None, admitted: bool = False) -> HttpResponse:
    """The password step is done: ask for a second factor if one is required, else sign in.

    A browser remembered for this person (and not yet past its period) skips the factor.
    ``required`` is ``required_for(user)`` when the caller has already asked it
    (``SignIn.second_factor``): two more policy queries saved on every sign-in.
    ``admitted``: the caller's transaction already passed ``lockout.admit`` for this
    sign-in (the password sign-in does when no factor follows).
    """
    if required is None:
        required = required_for(user)
    if required and not remembered.use(request, user):
        return start(request, user, next_url)
    if not (admitted or lockout.admit(user)):
        return _refused(request, user, "account locked or disabled before the session began")
    login(request, user, backend=SESSION_BACKEND)
    # ``next_url`` is a URL (``safe_next``): ``redirect`` would first try it as a view name.
    return HttpResponseRedirect(next_url)


def remember_context() -> dict:
    """What a factor's page needs to offer "Remember this browser for N days"."""
    return {"remember_days": remembered.remember_days()}


def start(request: HttpRequest, user: User, next_url: str) -> HttpResponse:
    """Remember who passed the password and send them to choose a second factor."""
    pending_state.hold(request, SESSION_KEY, user, next=next_url)
    audit.record("login.second_factor.required", request=request, actor=user, target=user,
                 outcome=Outcome.SUCCESS, detail={"methods": [m.key for m in
                                                              factors.methods_for(user)]})
    return redirect("login_verify")


def pending(request: HttpRequest) -> PendingSignIn | None:
    found = pending_state.held(request, SESSION_KEY)
    if found is None or found[0].is_locked():
        return None
    user, data = found
    return PendingSignIn(user, data["next"])


def succeed(request: HttpRequest, method: str, remember: bool | None = None) -> HttpResponse:
    """The factor was right: start the session and continue where the person was going.

    ``remember`` (default: the form's ``remember`` box) asks to remember this
    browser for the policy's period; nothing is remembered when that is 0.
    """
    state = pending(request)
    if state is None:
        return redirect("login")
    if remember is None:
        remember = request.POST.get("remember", "").lower() in ("on", "1", "true", "yes")
    pending_state.release(request, SESSION_KEY)
    if not lockout.admit(state.user):
        return _refused(request, state.user, "account locked or disabled before the second "
                                             f"factor ({method}) was accepted")
    audit.record("login.second_factor", request=request, actor=state.user, target=state.user,
                 detail={"method": method, "remember": bool(remember)})
    login(request, state.user, backend=SESSION_BACKEND)
    note_second_factor(request, method)
    response = HttpResponseRedirect(state.next_url)
    if remember:
        remembered.grant(request, response, state.user)
    return response


def note_second_factor(request: HttpRequest, method: str) -> None:
    """Right after ``login``: this sign-in passed a second factor (``method``), or a
    passkey alone (``PASSWORDLESS_PASSKEY``), which is multi-factor by itself."""
    request.session[SECOND_FACTOR_AT] = time.time()
    request.session[SECOND_FACTOR_METHOD] = method


def passed_second_factor(request: HttpRequest, signed_in_at: dt.datetime | None) -> bool:
    """Whether the session's current sign-in (made at ``signed_in_at``, its
    ``SignedInSession`` time) passed a second factor; a remembered browser that skipped
    one did not."""
    noted = request.session.get(SECOND_FACTOR_AT)
    return (isinstance(noted, int | float) and signed_in_at is not None
            and noted >= signed_in_at.timestamp())


def second_factor_method(request: HttpRequest, signed_in_at: dt.datetime | None) -> str | None:
    """Which second factor the session's current sign-in passed (``note_second_factor``'s
    method; ``""`` if a session from before methods were noted); None if it passed none."""
    if not passed_second_factor(request, signed_in_at):
        return None
    method = request.session.get(SECOND_FACTOR_METHOD)
    return method if isinstance(method, str) else ""


def _refused(request: HttpRequest, user: User, reason: str) -> HttpResponse:
    """A sign-in that had proved itself, refused at the last step: the account was locked
    (by wrong guesses verified meanwhile) or disabled. Back to the sign-in page."""
    audit.record("login", request=request, outcome=Outcome.FAILURE, actor_label="anonymous",
                 target=user, detail={"reason": reason})
    messages.error(request, REFUSED_AT_THE_LAST_STEP)
    return redirect("login")


def fail(request: HttpRequest, user: User, method: str, reason: str = "wrong code") -> bool:
    """Count a wrong factor like a wrong password; True if the account locked now."""
    audit.record("login.second_factor", request=request, actor=user, target=user,
                 outcome=Outcome.FAILURE, detail={"method": method, "reason": reason})
    locked = lockout.register_failure(user, effective_policy(user).code_lockout, request=request,
                                      reason=f"{reason} ({method})")
    if locked:
        pending_state.release(request, SESSION_KEY)
    return locked

"""Password reset pages: ask for a link at ``/reset``, open it, choose a new password.

The mailed link is ``/reset/<token>``. Opening it checks the token and then
redirects to ``/reset/new-password``, with only the link's row id kept in the
(server-side) session. So the token leaves the address bar and the history at
once, the form posts to an address without it (a CSRF or other error there
logs no token), and the page that holds the form sends no token in a Referer.
Every answer at ``/reset/<anything>`` is a 200 page or a redirect, never an
error status, because Django logs the path of every 4xx/5xx answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt

from keystead.directory.rules import RuleViolation
from keystead.login import reset, throttle
from keystead.portal.forms import NewPasswordForm, ResetRequestForm
from keystead.portal.password_views import with_rules
from keystead.portal.views import throttled_page
from keystead.secret import Secret

SESSION_KEY = "keystead.reset_link"
SESSION_SECONDS = int(reset.VALID_FOR.total_seconds())


class AnswerThen(HttpResponse):
    """A page whose follow-up work runs after it was sent.

    WSGI servers call ``close()`` once the body is written, so work put here
    (sending a mail) does not add to the time the person, or someone timing the
    answer to learn whether an address has an account, waits for.
    """

    def __init__(self, content: str, *, then: Callable[[], None] | None = None) -> None:
        super().__init__(content)
        self._then = then

    def close(self) -> None:
        try:
            super().close()
        finally:
            then, self._then = self._then, None
            if then is not None:
                then()


def _private(response: HttpResponse) -> HttpResponse:
    """Never cached: these pages are about one person's account."""
    add_never_cache_headers(response)
    return response


def _at_token_address(response: HttpResponse) -> HttpResponse:
    """An answer at ``/reset/<token>`` also sends no Referer, so the token stays here.

    Only these: a page with a form must not have it, as browsers then send
    ``Origin: null`` with the form and Django's CSRF check rightly refuses it.
    """
    response["Referrer-Policy"] = "no-referrer"
    return response


def _page(request: HttpRequest, template: str, context: dict | None = None, *,
          then: Callable[[], None] | None = None) -> HttpResponse:
    return _private(AnswerThen(render_to_string(template, context or {}, request), then=then))


def _link_gone(request: HttpRequest) -> HttpResponse:
    """One page for unknown, replaced, used and expired links (status 200, see above)."""
    request.session.pop(SESSION_KEY, None)
    return _page(request, "portal/reset_link_gone.html")


def request_link(request: HttpRequest) -> HttpResponse:
    """``/reset``: ask for a link; every well-formed address gets the same answer."""
    form = ResetRequestForm(request.POST or None)
    throttled = request.method == "POST" and throttle.check(request, door="reset")
    if throttled:
        return throttled_page(request, throttled)
    if request.method == "POST" and form.is_valid():
        outgoing = reset.request_reset(form.cleaned_data["email"], request=request)
        return _page(request, "portal/reset_sent.html", {"answer": reset.ANSWER},
                     then=outgoing.send if outgoing else None)
    return _page(request, "portal/reset_request.html", {"form": form})


@csrf_exempt  # reads only; a CSRF refusal here would log the path, which holds the token
def open_link(request: HttpRequest, token: str) -> HttpResponse:
    """``/reset/<token>``: check the mailed link, then continue without the token."""
    row = reset.open_link(token.strip("/"), request=request)
    if row is None:
        return _at_token_address(_link_gone(request))
    request.session[SESSION_KEY] = {"link": row.pk, "at": time.time()}
    return _at_token_address(_private(redirect("reset_choose")))


def choose_password(request: HttpRequest) -> HttpResponse:
    """``/reset/new-password``: the new password, twice, for the link opened here."""
    state = request.session.get(SESSION_KEY) or {}
    fresh = time.time() - state.get("at", 0) < SESSION_SECONDS
    row = reset.usable_link(state.get("link") if fresh else None, request=request)
    if row is None:
        return _link_gone(request)
    form = NewPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = reset.complete_reset(
                row.pk, Secret(form.cleaned_data["new_password"]), request=request)
        except reset.LinkUnusable:
            return _link_gone(request)
        except RuleViolation as exc:
            for problem in exc.problems:  # every failing rule, at once
                form.add_error("new_password", problem.message)
        else:
            request.session.pop(SESSION_KEY, None)
            messages.success(request, "Your password is changed, and every session of your "
                                      "account was signed out. Sign in with the new password.")
            if user.is_locked():
                until = user.locked_until
                messages.warning(request, (
                    f"Your account is still locked after too many failed sign-ins; it unlocks "
                    f"by itself at {until:%Y-%m-%d %H:%M} UTC." if until else
                    "Your account is still locked after too many failed sign-ins; "
                    "an administrator must unlock it."))
            return _private(redirect("login"))
    return _page(request, "portal/reset_choose.html",
                 {**with_rules(form, row.user), "email": row.user.email})

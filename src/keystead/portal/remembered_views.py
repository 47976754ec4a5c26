"""The portal's list of remembered browsers, each revocable."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from keystead.login import remembered

#: Pages a revocation may return to (the browsers' own page is the default).
_BACK_TO = {"sessions": "account_sessions"}


@login_required
def browsers(request: HttpRequest) -> HttpResponse:
    here = remembered.current(request, request.user)
    rows = list(remembered.live_for(request.user).order_by("-created_at"))
    return render(request, "portal/remembered_browsers.html", {
        "browsers": rows, "here": here.pk if here else None,
        "remember_days": remembered.remember_days()})


@login_required
@require_POST
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    is_here = (here := remembered.current(request, request.user)) is not None and here.pk == pk
    done = remembered.revoke_own(request.user, pk, request=request, door="portal")
    if done is None:
        raise Http404("No such remembered browser of yours.")
    row, was_live = done
    if was_live:
        messages.success(request, f"{row.user_agent or 'The browser'} will be asked for a second "
                                  "factor at its next sign-in.")
    response = redirect(_BACK_TO.get(request.POST.get("back", ""), "remembered_browsers"))
    if is_here:
        response.delete_cookie(remembered.COOKIE, samesite="Lax")
    return response

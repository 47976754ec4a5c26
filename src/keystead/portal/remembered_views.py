"""The portal's list of remembered browsers, each revocable."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from keystead.login import remembered
from keystead.login.models import RememberedBrowser


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
    row = get_object_or_404(RememberedBrowser, pk=pk, user=request.user)
    is_here = (here := remembered.current(request, request.user)) is not None and here.pk == pk
    if remembered.revoke(row, request=request, reason="revoked by its owner", door="portal"):
        messages.success(request, f"{row.user_agent or 'The browser'} will be asked for a second "
                                  "factor at its next sign-in.")
    response = redirect("remembered_browsers")
    if is_here:
        response.delete_cookie(remembered.COOKIE, samesite="Lax")
    return response

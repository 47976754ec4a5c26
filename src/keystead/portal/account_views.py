"""The person's own account: their profile, and where they are signed in.

Every action here goes through a service in ``keystead.login`` with the person
as the actor (``Actor.themselves``), which checks that they act on their own
account and writes the audit event; the views only choose what to show.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from keystead.directory.authorization import Actor
from keystead.login import remembered, sessions
from keystead.policy.services import effective_policy


@require_GET
@login_required
def profile(request: HttpRequest) -> HttpResponse:
    """Who Keystead knows the person as. Read-only: names and the email address come
    from the directory (or the person's source), so the page says whom to ask."""
    user = request.user
    expiry = effective_policy(user).expiry
    return render(request, "portal/profile.html", {
        "groups": list(user.directory_groups.order_by("name").values_list("name", flat=True)),
        "password_expires": expiry.expires_at(user.password_changed_at),
        "now": timezone.now(),
    })


@never_cache
@require_GET
@login_required
def signed_in(request: HttpRequest) -> HttpResponse:
    """Where the person is signed in, and the browsers that skip the second factor."""
    here = remembered.current(request, request.user)
    return render(request, "portal/sessions.html", {
        "sessions": sessions.sessions_of(request.user, request.session.session_key),
        "browsers": list(remembered.live_for(request.user).order_by("-created_at")),
        "here_browser": here.pk if here else None,
    })


@require_POST
@login_required
def end_session(request: HttpRequest, handle: str) -> HttpResponse:
    """Sign one of the person's other sessions out."""
    if sessions.end_session(request.user, handle, actor=Actor.themselves(request.user),
                            request=request, door="portal"):
        messages.success(request, "That session is signed out. Whoever used it must sign in "
                                  "again.")
    else:
        messages.info(request, "That session had already ended.")
    return redirect("account_sessions")


@require_POST
@login_required
def end_other_sessions(request: HttpRequest) -> HttpResponse:
    """Sign out every session of the person but this one."""
    ended = sessions.end_other_sessions(request.user, request.session.session_key,
                                        actor=Actor.themselves(request.user), request=request,
                                        door="portal")
    messages.success(request, f"Signed out {ended} other session{'s' if ended != 1 else ''}. "
                              "This browser stays signed in.")
    return redirect("account_sessions")

"""The console's questions to ``authorization``: who is asking, and may they do this."""

from __future__ import annotations

from django.http import HttpRequest

from keystead.directory.authorization import Action, Actor, allowed
from keystead.directory.models import User


def actor(request: HttpRequest) -> Actor:
    """The administrator signed in to the console."""
    return Actor.person(request.user)


def may(request: HttpRequest, action: Action, user: User | None) -> bool:
    """Whether the console's administrator may do ``action`` to ``user`` (None: any one)."""
    return allowed(actor(request), action, user)

"""Signed-in sessions: which belong to whom, and signing a person out everywhere.

Sessions are Django's database sessions; ``SignedInSession`` records their
owner when they sign in. Ending a person's access (``sign_out_everywhere`` by
an administrator or by themselves, or the account disabled) deletes their
sessions and sends ``access_ended``, on which remembered browsers and issued
tokens are revoked too.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from keystead.directory import audit
from keystead.directory.authorization import Action, Actor, require
from keystead.directory.models import User
from keystead.directory.signals import access_ended
from keystead.login.models import SignedInSession


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

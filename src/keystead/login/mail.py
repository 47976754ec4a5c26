"""Mail a person receives about their own account.

Nothing here talks to a mail server: each mail is rendered and put in the
outbox (``keystead.login.outbox``) in the caller's transaction, and a
background sender delivers it. So a slow or hung mail server never holds up a
request, and how long an answer takes does not tell whether a mail went out.
"""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

from keystead.directory.models import User
from keystead.login import outbox
from keystead.secret import Secret


def send_to(user: User, subject: str, template: str, context: dict) -> None:
    """Queue one plain-text mail to ``user``; it goes out once the caller's transaction
    commits (and not at all if it rolls back)."""
    body = Secret(render_to_string(template, {"user": user, "base_url": settings.BASE_URL,
                                              **context}))
    outbox.enqueue(user.email, subject, body, user=user)


def send_lock_notice(user: User) -> None:
    send_to(user, "Your Keystead account is locked", "login/mail/locked.txt",
            {"locked_until": user.locked_until})

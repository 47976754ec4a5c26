"""Mail a person receives about their own account."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from keystead.directory.models import User

log = logging.getLogger(__name__)


def send_to(user: User, subject: str, template: str, context: dict) -> None:
    """Send one plain-text mail; a mail server that fails is logged, never fatal."""
    body = render_to_string(template, {"user": user, "base_url": settings.BASE_URL, **context})
    try:
        send_mail(subject, body, None, [user.email])
    except OSError:
        log.exception("could not send %r to user %s", subject, user.pk)


def send_lock_notice(user: User) -> None:
    send_to(user, "Your Keystead account is locked", "login/mail/locked.txt",
            {"locked_until": user.locked_until})

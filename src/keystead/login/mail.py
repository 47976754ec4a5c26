"""Mail a person receives about their own account.

Nothing here talks to a mail server: each mail is rendered and put in the
outbox (``keystead.login.outbox``) in the caller's transaction, and a
background sender delivers it. So a slow or hung mail server never holds up a
request, and how long an answer takes does not tell whether a mail went out.

Every mail is worded by ``keystead.login.mail_templates.render``: the
administrator's override of that kind of mail, or the built-in default.
"""

from __future__ import annotations

from django.utils import dateformat, timezone

from keystead.directory.models import User
from keystead.login import mail_templates, outbox


def send(kind: str, user: User, **values: object) -> None:
    """Queue the ``kind`` mail (a key of ``mail_templates.KINDS``) to ``user``; it goes
    out once the caller's transaction commits (and not at all if it rolls back).

    ``values`` are the kind's own placeholders; the person's name and address are
    added here. Everything is passed as text, so a template reaches nothing else.
    """
    subject, body = mail_templates.render(kind, {
        "person_name": user.given_name, "email": user.email,
        **{name: str(value) for name, value in values.items()}})
    outbox.enqueue(user.email, subject, body, user=user)


def send_lock_notice(user: User) -> None:
    until = ""
    if user.locked_until:
        until = dateformat.format(timezone.localtime(user.locked_until), "Y-m-d H:i e")
    send("locked", user, locked_until=until)

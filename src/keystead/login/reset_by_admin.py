"""An administrator mails a person a password-reset link ("Send reset mail").

The person's own "forgot my password" (``reset.request_reset``) must not tell an
anonymous caller whether an account exists, so it answers the same for every
address, limits mail to one a minute and swallows failures. None of that fits an
administrator acting on a person they already see: here the answer says what
happened, a disabled account is refused with a reason (its link would not work),
and a failure to queue the mail rolls the new link back instead of leaving a
link nobody received.

The link is the same kind of link as the person's own request (``ResetToken``,
256 random bits, only the SHA-256 stored, valid ``reset.VALID_FOR``, the newest
wins), so completing it goes through ``reset.complete_reset`` unchanged. Who
may send it is ``authorization``'s decision: sending a way to set a password is
setting a password (``Action.SET_PASSWORD``), so a help desk mails ordinary
people, and only a superuser mails an account with console access.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest

from keystead.directory import audit
from keystead.directory.authorization import Action, Actor, require
from keystead.directory.models import User
from keystead.directory.rules import FieldProblem, RuleViolation
from keystead.login import mail, reset
from keystead.login.models import ResetToken

ACTION = "user.password.reset.sent_by_admin"


def send_reset_mail(user: User, *, actor: Actor, request: HttpRequest | None = None,
                    door: str = "admin") -> ResetToken:
    """Mail ``user`` a fresh reset link (earlier links stop working); the link's row.

    Raises ``NotAllowed`` when ``actor`` may not set the person's password, and
    ``RuleViolation`` when the account is disabled or has no email address.
    """
    require(actor, Action.SET_PASSWORD, user)
    token = reset.new_token()
    with transaction.atomic():
        # The row lock orders this with a reset the person asks for at the same moment.
        person = User.objects.select_for_update().get(pk=user.pk)
        if not person.is_active:
            raise RuleViolation([FieldProblem(
                "is_active", f"{person.email} is disabled, so a reset link would not work. "
                "Enable the account first.")])
        if not person.email:
            raise RuleViolation([FieldProblem(
                "email", "This account has no email address to send a link to.")])
        row = reset.issue_link(person, reset.hash_token(token.reveal()), request)
        # Queued in this transaction: it goes out once the link exists, or not at all.
        mail.send("reset_by_admin", person, link=reset.link_for(token).reveal(),
                  minutes=int(reset.VALID_FOR.total_seconds() // 60))
        audit.record(ACTION, request=request, actor=actor.user,
                     actor_label="" if actor.user else actor.label, target=person,
                     detail={"door": door, "link_id": row.pk})
    return row

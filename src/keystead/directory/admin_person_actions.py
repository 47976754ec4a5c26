"""The buttons on a person's console page: send reset mail, unlock, reset second factors,
sign out everywhere, disable and enable.

Each button is a POST form (with the CSRF token) to one view here, and each
action calls the service every other door calls, with the console's actor, so
``authorization`` decides who may do it to whom, the service records the audit
event, and this module records none of its own. The ones that destroy something
(second factors, sessions and tokens, the account's access) ask "Are you sure?"
first: the button leads to a confirmation page, whose own POST carries
``confirmed=yes``.

A refusal is a red banner on the person's page that says why (the reason
``authorization`` gives), never a stack trace; asking is done with
``refusal`` before anything runs, and the service's own ``NotAllowed`` is
caught as well, for the case where permissions changed in between.

Setting a password is the form on the ``password/`` page (``UserAdmin``), which
the page links to as "Reset password".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.contrib.admin.utils import unquote
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from keystead.directory import services
from keystead.directory.admin_guards import actor, told_on_the_page
from keystead.directory.authorization import Action, NotAllowed, refusal
from keystead.directory.models import User
from keystead.directory.rules import RuleViolation
from keystead.login import factors, lockout, sessions
from keystead.login.reset import VALID_FOR
from keystead.login.reset_by_admin import send_reset_mail

DOOR = "admin"
URL_NAME = "directory_user_person_action"
CONFIRM_TEMPLATE = "admin/directory/user/person_action_confirm.html"


@dataclass(frozen=True)
class PersonAction:
    """One button: what it is called, what it needs, whether it asks first, what it does."""

    key: str
    label: str
    needs: Action
    run: Callable[[HttpRequest, User], str]  # does it; the banner's text
    offered: Callable[[User], bool] = lambda user: True  # shown in this person's state
    question: str = ""  # non-empty: ask "Are you sure?" with this question first
    consequences: str = ""
    confirm_label: str = ""
    help: str = ""  # one line beside the button


def _send_reset_mail(request: HttpRequest, user: User) -> str:
    send_reset_mail(user, actor=actor(request), request=request, door=DOOR)
    minutes = int(VALID_FOR.total_seconds() // 60)
    return (f"A password-reset link is on its way to {user.email}. It works once, for "
            f"{minutes} minutes; earlier links no longer work.")


def _unlock(request: HttpRequest, user: User) -> str:
    if lockout.unlock(user, actor=actor(request), request=request, door=DOOR):
        return f"{user.email} is now unlocked."
    return f"{user.email} was not locked (the lockout period may have just ended)."


def _reset_factors(request: HttpRequest, user: User) -> str:
    removed = factors.reset_second_factors(user, actor=actor(request), request=request,
                                           door=DOOR)
    total = sum(removed.values())
    return (f"Second factors reset for {user.email}: {total} removed, and every remembered "
            "browser must pass a second factor again.")


def _sign_out(request: HttpRequest, user: User) -> str:
    ended = sessions.sign_out_everywhere(user, actor=actor(request), request=request,
                                         door=DOOR)
    noun = "session" if ended == 1 else "sessions"
    return (f"{user.email} is signed out everywhere: {ended} {noun} ended, remembered "
            "browsers and application tokens revoked.")


def _disable(request: HttpRequest, user: User) -> str:
    if services.set_active(user, False, actor=actor(request), request=request, door=DOOR):
        return (f"{user.email} is disabled: they cannot sign in, and their sessions, "
                "remembered browsers and application tokens have ended.")
    return f"{user.email} was already disabled."


def _enable(request: HttpRequest, user: User) -> str:
    if services.set_active(user, True, actor=actor(request), request=request, door=DOOR):
        return f"{user.email} is enabled and can sign in again."
    return f"{user.email} was already enabled."


ACTIONS: dict[str, PersonAction] = {action.key: action for action in (
    PersonAction(
        "send-reset-mail", "Send reset mail", Action.SET_PASSWORD, _send_reset_mail,
        offered=lambda user: user.is_active and bool(user.email),
        help="Mails a link to choose a new password."),
    PersonAction(
        "unlock", "Unlock", Action.UNLOCK, _unlock, offered=lambda user: user.is_locked(),
        help="Ends the lockout and the count of failed sign-ins."),
    PersonAction(
        "reset-factors", "Reset second factors", Action.RESET_FACTORS, _reset_factors,
        question="Are you sure you want to reset the second factors of {email}?",
        consequences="Their authenticator apps, backup codes and passkeys are removed, any "
        "code waiting in their mail stops working, and every browser they asked to remember "
        "must pass a second factor again. Where a second factor is required, they can then "
        "only use a code sent by email until they enrol again in the portal.",
        confirm_label="Yes, reset second factors",
        help="Removes authenticator apps, passkeys and backup codes."),
    PersonAction(
        "sign-out", "Sign out everywhere", Action.SIGN_OUT, _sign_out,
        question="Are you sure you want to sign {email} out everywhere?",
        consequences="Every browser session they have ends, every remembered browser must "
        "pass a second factor again, and every application token issued to them is revoked, "
        "so each application asks them to sign in again. The account stays enabled.",
        confirm_label="Yes, sign out everywhere",
        help="Ends sessions, remembered browsers and application tokens."),
    PersonAction(
        "disable", "Disable account", Action.DISABLE, _disable,
        offered=lambda user: user.is_active,
        question="Are you sure you want to disable {email}?",
        consequences="They can no longer sign in anywhere. Their sessions, remembered "
        "browsers and application tokens end now, and enabling the account again does not "
        "bring them back. Nothing is deleted.",
        confirm_label="Yes, disable",
        help="They can no longer sign in; nothing is deleted."),
    PersonAction(
        "enable", "Enable account", Action.DISABLE, _enable,
        offered=lambda user: not user.is_active,
        help="They can sign in again."),
)}


@dataclass(frozen=True)
class Button:
    """A button the page shows: where it posts, its label and its one-line help."""

    key: str
    label: str
    url: str
    help: str
    method: str = "post"  # "get" for the password page, which is a form of its own


def action_url(user: User, key: str) -> str:
    return reverse(f"admin:{URL_NAME}", args=[user.pk, key])


def buttons(request: HttpRequest, user: User) -> list[Button]:
    """The actions the viewer may take on ``user`` now, in the page's order."""
    who = actor(request)
    found = []
    if refusal(who, Action.SET_PASSWORD, user) is None:
        found.append(Button("reset-password", "Reset password…",
                            reverse("admin:directory_user_password_change", args=[user.pk]),
                            "Sets a new password; by default they must change it at their "
                            "next sign-in.", method="get"))
    for action in ACTIONS.values():
        if action.offered(user) and refusal(who, action.needs, user) is None:
            label = f"{action.label}…" if action.question else action.label
            found.append(Button(action.key, label, action_url(user, action.key), action.help))
    return found


def _page(user: User) -> str:
    return reverse("admin:directory_user_change", args=[user.pk])


def _problem(exc: Exception) -> str:
    if isinstance(exc, RuleViolation):
        return " ".join(problem.message for problem in exc.problems)
    return str(exc) or "You may not do this."


def person_action(model_admin: ModelAdmin, request: HttpRequest, id: str,
                  key: str) -> HttpResponse:
    """Run one button's action on the person, asking first where it destroys something."""
    action = ACTIONS.get(key)
    user = model_admin.get_object(request, unquote(id))
    if action is None or user is None:
        raise Http404("No such person or action.")
    # ``authorization`` alone decides (as at every other door): a role that may unlock but
    # not read people unlocks here too, and lands on the console's front page instead of a
    # page it may not open.
    readable = model_admin.has_view_or_change_permission(request, user)
    back = HttpResponseRedirect(_page(user) if readable
                                else reverse(f"{model_admin.admin_site.name}:index"))
    reason = refusal(actor(request), action.needs, user)
    if reason is not None:
        told_on_the_page(request, NotAllowed(reason))
        model_admin.message_user(request, reason, messages.ERROR)
        return back
    if request.method != "POST":
        return _confirm(model_admin, request, user, action, back.url) if action.question \
            else back
    if action.question and request.POST.get("confirmed") != "yes":
        return _confirm(model_admin, request, user, action, back.url)
    try:
        done = action.run(request, user)
    except (NotAllowed, RuleViolation) as exc:
        told_on_the_page(request, exc)
        model_admin.message_user(request, _problem(exc), messages.ERROR)
    else:
        model_admin.message_user(request, done, messages.SUCCESS)
    return back


def _confirm(model_admin: ModelAdmin, request: HttpRequest, user: User,
             action: PersonAction, back: str) -> HttpResponse:
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "title": action.label,
        "question": action.question.format(email=user.email),
        "consequences": action.consequences,
        "confirm_label": action.confirm_label,
        "person": user,
        "opts": model_admin.opts,
        "cancel_url": back,
        "action_url": action_url(user, action.key),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, CONFIRM_TEMPLATE, context)


def urls(model_admin: ModelAdmin) -> list[URLPattern]:
    """The action page, for ``UserAdmin.get_urls`` (before the ``<object_id>/`` pattern)."""
    view = model_admin.admin_site.admin_view(
        lambda request, id, key: person_action(model_admin, request, id, key))
    return [path("<id>/act/<slug:key>/", view, name=URL_NAME)]

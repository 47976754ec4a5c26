"""Choosing a new password: self-service change and the forced change after sign-in."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from keystead import branding
from keystead.directory import audit, services
from keystead.directory.authorization import Actor
from keystead.directory.models import User
from keystead.directory.rules import RuleViolation
from keystead.login import lockout, pending, second_step
from keystead.login.passwords import current_password_matches
from keystead.policy.services import effective_policy
from keystead.portal.forms import ChangePasswordForm, NewPasswordForm, mark_errors
from keystead.portal.password_rules import TIP, rules_in_words
from keystead.provisioning.services import open_accounts
from keystead.secret import Secret


def _save_new_password(request, form, user, action: str, *, with_keystead: bool = True,
                       accounts: list[int] | None = None) -> bool:
    """Set the password through the one service; show every failing rule on the form
    (beside the choice of accounts when it is about them)."""
    current = form.cleaned_data.get("current_password")  # a directory may need it to agree
    try:
        services.set_password(user, Secret(form.cleaned_data["new_password"]),
                              actor=Actor.themselves(user), request=request, door="portal",
                              action=action, old_password=Secret(current) if current else None,
                              accounts=accounts, with_keystead=with_keystead)
    except RuleViolation as exc:
        for problem in exc.problems:
            on_targets = problem.field == "accounts" and "targets" in form.fields
            form.add_error("targets" if on_targets else "new_password", problem.message)
        return False
    return True


def with_rules(form: NewPasswordForm, user: User) -> dict:
    """The page's context: the form tied to the rules that apply to ``user``, and the
    rules in words, shown before the first attempt (``portal/_password_rules.html``)."""
    mark_errors(form, {"new_password": "password-rules"})
    return {"form": form, "rules": rules_in_words(effective_policy(user).password), "tip": TIP}


@login_required
def change_password(request: HttpRequest) -> HttpResponse:
    user = request.user
    accounts = [(str(account.pk), f"{account.name} on {account.system.name}")
                for account in open_accounts(user)]
    form = ChangePasswordForm(request.POST or None, accounts=accounts,
                              site_name=branding.current(request).name)
    if request.method == "POST" and form.is_valid():
        with_keystead, chosen = form.targets()
        locked = lockout.refused_while_locked(user, request=request, action="user.password.change")
        if locked:
            form.add_error(None, locked)
        elif not current_password_matches(user, Secret(form.cleaned_data["current_password"])):
            lockout.register_failure(user, effective_policy(user).lockout, request=request,
                                     reason="wrong current password on change")
            form.add_error("current_password", "The current password is not right.")
        elif _save_new_password(request, form, user, "user.password.change",
                                with_keystead=with_keystead, accounts=chosen):
            if with_keystead:
                update_session_auth_hash(request, user)  # keep this session; others end
                messages.success(request,
                                 "Your password is changed. Other sessions were signed out.")
            else:
                messages.success(request, "The new password goes to the accounts you chose. "
                                          "Your password here is unchanged.")
            return redirect("home")
    context = with_rules(form, user)
    if "targets" in form.fields:
        context["targets"] = form["targets"]
    return render(request, "portal/change_password.html", context)


def change_required(request: HttpRequest) -> HttpResponse:
    """The forced change: the person signed in correctly but must pick a new password."""
    state = pending.current(request)
    if state is None:
        messages.info(request, "Sign in first.")
        return redirect("login")
    form = NewPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and _save_new_password(
        request, form, state.user, "user.password.change"
    ):
        pending.finish(request)
        # The sign-in refused for the old password completes with the new one.
        audit.record("login", request=request, actor=state.user, target=state.user,
                     detail={"door": "portal", "after": "required password change"})
        messages.success(request, "Your new password is saved.")
        return second_step.after_password(request, state.user, state.next_url)
    return render(request, "portal/change_required.html",
                  {**with_rules(form, state.user), "reasons": state.reasons})

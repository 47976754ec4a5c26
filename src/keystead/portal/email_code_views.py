"""Signing in with a code sent by email (the second step after the password)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.login import email_codes, factors, second_step
from keystead.login.email_codes import Check
from keystead.login.second_step import PendingSignIn
from keystead.portal.second_step_views import during_second_step

LOCKED = ("Too many wrong codes: your account is now locked, exactly as after too many wrong "
          "passwords. It unlocks by itself after the lockout period, or an administrator can "
          "unlock it; we emailed you about it.")


class CodeInput(forms.TextInput):
    """A code field that never sends the typed value back in the page."""

    def format_value(self, value: Any) -> None:
        return None


class EmailCodeForm(forms.Form):
    code = forms.CharField(
        label="Code", max_length=email_codes.MAX_CODE_CHARS, strip=True,
        widget=CodeInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                "autofocus": True}),
        error_messages={"required": "Enter the code from the email."})


@never_cache
@sensitive_post_parameters("code")
@during_second_step
def verify(request: HttpRequest, state: PendingSignIn) -> HttpResponse:
    user = state.user
    if not factors.offers(user, email_codes.KEY):
        messages.error(request, "Codes by email cannot be used here: there is no mail server, "
                                "or your administrator requires an authenticator app or a "
                                "passkey for your account. Choose another way.")
        return redirect("login_verify")
    form = EmailCodeForm()
    if request.method == "POST" and "resend" in request.POST:
        sending = email_codes.send_code(user, request)
        if sending.sent:
            messages.success(request, f"We sent a new code to {user.email}. Only the newest "
                                      "code works.")
        else:
            messages.info(request, f"A code was sent less than 30 seconds ago. Wait "
                                   f"{sending.wait_seconds} seconds before asking for another.")
        return redirect("login_verify_email")
    if request.method == "POST":
        form = EmailCodeForm(request.POST)
        if form.is_valid():
            check = email_codes.check_code(user, form.cleaned_data["code"])
            if check is Check.OK:
                return second_step.succeed(request, email_codes.KEY)
            if check is Check.EXPIRED:
                audit.record("login.second_factor", request=request, actor=user, target=user,
                             outcome=Outcome.FAILURE,
                             detail={"method": email_codes.KEY, "reason": check.value,
                                     "counted": False})
                form.add_error("code", "This code has expired: codes work for 10 minutes. "
                                       "Send a new code.")
            elif second_step.fail(request, user, email_codes.KEY, check.value):
                messages.error(request, LOCKED)
                return redirect("login")
            else:
                form.add_error("code", "That code is not right. Check the newest email from "
                                       "Keystead and try again.")
    elif not email_codes.has_live_code(user):
        sending = email_codes.send_code(user, request)
        if not sending.sent:
            messages.info(request, f"A code was sent less than 30 seconds ago. Wait "
                                   f"{sending.wait_seconds} seconds before asking for another.")
    return render(request, "portal/email_code_verify.html", {
        "form": form, "email": user.email, "others": len(factors.methods_for(user)) > 1,
        **second_step.remember_context()})

"""Backup codes in the portal (generate, count) and the sign-in step that takes one."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from keystead.directory import audit
from keystead.login import backup_codes, factors, second_step
from keystead.login.second_step import PendingSignIn
from keystead.portal.second_step_views import during_second_step

LOW = 3  # warn the person when this few codes are left


class BackupCodeForm(forms.Form):
    code = forms.CharField(
        label="Backup code", max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True,
                                      "spellcheck": "false", "autocapitalize": "none"}),
    )


@never_cache
@login_required
def manage(request: HttpRequest) -> HttpResponse:
    """How many codes are left; POST makes a new set and shows it this once."""
    codes = None
    if request.method == "POST":
        codes = [code.reveal() for code in backup_codes.generate(request.user, request=request)]
    return render(request, "portal/backup_codes.html", {
        "codes": codes, "remaining": backup_codes.remaining(request.user),
        "count": backup_codes.COUNT,
    })


@never_cache
@during_second_step
def verify_sign_in(request: HttpRequest, state: PendingSignIn) -> HttpResponse:
    """The second step of signing in with one backup code."""
    form = BackupCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = state.user
        if backup_codes.use(user, form.cleaned_data["code"]):
            left = backup_codes.remaining(user)
            audit.record("backup_codes.use", request=request, actor=user, target=user,
                         detail={"remaining": left})
            response = second_step.succeed(request, "backup")
            if left <= LOW:
                messages.warning(request, f"You have {left} backup code(s) left. Make a new "
                                          "set under “Backup codes”.")
            return response
        if second_step.fail(request, user, "backup", "wrong or used backup code"):
            messages.error(request, "Too many wrong codes: your account is locked for now. "
                                    "Try again later or ask your administrator to unlock it.")
            return redirect("login")
        form.add_error("code", "That is not one of your unused backup codes. Each code works "
                               "once; type another from your list.")
    return render(request, "portal/verify_code.html", {
        "form": form, "title": "One of your backup codes",
        "intro": "Type one of the backup codes you saved when you made them, "
                 "like “k3m9p-x2c7d”. Each code works once.",
        "others": len(factors.methods_for(state.user)) > 1,
    })

"""Backup codes in the portal (generate, copy, download, count) and the sign-in step that
takes one.

A new set replaces the old one, so while the person has unused codes the page
first asks them to confirm. The codes are shown once, right after they are
made; only their keyed hashes are stored. The download of that set is the page
sending the codes it shows back to the server, which answers with them as a
text file only if they are exactly the person's fresh, unused set
(``backup_codes.fresh_set``): nothing keeps them in clear in between.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from keystead.directory import audit
from keystead.login import backup_codes, factors, second_step
from keystead.login.second_step import PendingSignIn
from keystead.portal.second_step_views import during_second_step

LOW = 3  # warn the person when this few codes are left
FILE_NAME = "keystead-backup-codes.txt"


class BackupCodeForm(forms.Form):
    code = forms.CharField(
        label="Backup code", max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True,
                                      "spellcheck": "false", "autocapitalize": "none"}),
    )


@never_cache
@login_required
def manage(request: HttpRequest) -> HttpResponse:
    """How many codes are left; POST makes a new set and shows it this once.

    While unused codes remain, a POST without ``replace=yes`` (the confirmation
    page's button) makes nothing and shows the confirmation instead."""
    remaining = backup_codes.remaining(request.user)
    codes = None
    if request.method == "POST":
        if remaining and request.POST.get("replace") != "yes":
            return confirm_new_set(request)
        codes = [code.reveal() for code in backup_codes.generate(request.user, request=request)]
        remaining = len(codes)
    return render(request, "portal/backup_codes.html", {
        "codes": codes, "remaining": remaining, "count": backup_codes.COUNT,
        "download_minutes": backup_codes.DOWNLOAD_SECONDS // 60,
    })


@never_cache
@login_required
def confirm_new_set(request: HttpRequest) -> HttpResponse:
    """"Replace your codes?": the page between "Make a new set" and the new set."""
    remaining = backup_codes.remaining(request.user)
    if not remaining:
        return redirect("account_backup_codes")
    return render(request, "portal/backup_codes_confirm.html",
                  {"remaining": remaining, "count": backup_codes.COUNT})


@never_cache
@require_POST
@login_required
def download(request: HttpRequest) -> HttpResponse:
    """The set just made, as a text file; refused for anything but that fresh set."""
    codes = backup_codes.fresh_set(request.user, request.POST.getlist("code"))
    if codes is None:
        messages.error(request, "The download is offered only for a set you have just made, "
                                f"for {backup_codes.DOWNLOAD_SECONDS // 60} minutes and before "
                                "any of its codes is used. Make a new set to download it.")
        return redirect("account_backup_codes")
    audit.record("backup_codes.download", request=request, actor=request.user,
                 target=request.user, detail={"count": len(codes)})
    lines = [f"Keystead backup codes for {request.user.email}",
             f"Keystead: {settings.BASE_URL}",
             f"Made: {timezone.now():%Y-%m-%d %H:%M} UTC",
             "Each code works once. Making a new set ends all of these.", ""]
    lines += [f"{n:2d}. {code}" for n, code in enumerate(codes, 1)]
    response = HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{FILE_NAME}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


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

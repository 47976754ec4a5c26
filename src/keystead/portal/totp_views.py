"""Authenticator apps in the portal: enrol, confirm, remove; and the sign-in step."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.login import factors, lockout, second_step, totp
from keystead.login.models import TotpDevice
from keystead.login.second_step import PendingSignIn
from keystead.policy.services import effective_policy
from keystead.portal.second_step_views import during_second_step

CODE_HELP = "Type the code your authenticator app shows now; spaces do not matter."


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code", max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "autofocus": True, "spellcheck": "false"}),
    )


class StartForm(forms.Form):
    name = forms.CharField(label="Name of this app", max_length=64, required=False,
                           initial="Authenticator app",
                           help_text="To tell your apps apart, e.g. “Phone”.")
    algorithm = forms.ChoiceField(label="Algorithm", choices=TotpDevice.Algorithm.choices,
                                  initial="SHA1")
    digits = forms.TypedChoiceField(label="Digits", choices=[(6, "6"), (8, "8")], coerce=int,
                                    initial=6)


class RemoveForm(forms.Form):
    credential = forms.CharField(
        label="Your current password, or a code from this app", strip=False, max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )


@never_cache
@login_required
def manage(request: HttpRequest) -> HttpResponse:
    """The list of the person's apps, the enrolment form, or the enrolment in progress."""
    user = request.user
    pending = totp.pending_device(user)
    start_form = StartForm(request.POST or None)
    if request.method == "POST" and start_form.is_valid():
        try:
            totp.start_enrolment(user, request=request, **start_form.cleaned_data)
        except totp.EnrolmentError as exc:
            messages.error(request, str(exc))
        return redirect("account_totp")
    context = {"devices": totp.active_devices(user), "start_form": start_form,
               "pending": pending}
    if pending is not None:
        seed = totp.seed_of(pending)
        uri = totp.provisioning_uri(seed, user.email, totp.params_of(pending))
        context.update(uri=uri, qr=totp.qr_data_uri(uri), seed_text=totp.group_seed(seed),
                       confirm_form=CodeForm())
    return render(request, "portal/totp.html", context)


@never_cache
@login_required
@require_POST
def confirm(request: HttpRequest) -> HttpResponse:
    user = request.user
    pending = totp.pending_device(user)
    if pending is None:
        messages.info(request, "There is no enrolment waiting for a code. Start again below.")
        return redirect("account_totp")
    form = CodeForm(request.POST)
    if form.is_valid() and totp.confirm(user, pending, form.cleaned_data["code"],
                                        request=request):
        messages.success(request, f"“{pending.name}” is set up. Sign-ins can now ask for "
                                  "a code from it.")
        return redirect("account_totp")
    if form.is_valid():
        form.add_error("code", "That code is not right. Check the app shows the Keystead "
                               "entry you just added and type its current code.")
    seed = totp.seed_of(pending)
    uri = totp.provisioning_uri(seed, user.email, totp.params_of(pending))
    return render(request, "portal/totp.html", {
        "devices": totp.active_devices(user), "pending": pending, "start_form": StartForm(),
        "uri": uri, "qr": totp.qr_data_uri(uri), "seed_text": totp.group_seed(seed),
        "confirm_form": form,
    }, status=400)


@login_required
@require_POST
def cancel(request: HttpRequest) -> HttpResponse:
    TotpDevice.objects.filter(user=request.user, confirmed_at__isnull=True).delete()
    messages.info(request, "The enrolment was cancelled.")
    return redirect("account_totp")


@login_required
def remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove an app after the person proves it is them (password or a code from that app)."""
    user = request.user
    device = get_object_or_404(TotpDevice, pk=pk, user=user, confirmed_at__isnull=False)
    form = RemoveForm(request.POST or None)
    locked = request.method == "POST" and lockout.refused_while_locked(
        user, request=request, action="totp.remove")
    if locked:
        form.add_error(None, locked)
    elif request.method == "POST" and form.is_valid():
        typed = form.cleaned_data["credential"]
        proven = user.check_password(typed)
        if not proven:
            proven = totp.check_device(device, typed) == "ok"
        if proven:
            totp.remove(user, device, request=request)
            messages.success(request, f"“{device.name}” is removed.")
            return redirect("account_totp")
        audit.record("totp.remove", request=request, actor=user, target=user,
                     outcome=Outcome.FAILURE,
                     detail={"device": device.name, "reason": "wrong password or code"})
        lockout.register_failure(user, effective_policy(user).lockout, request=request,
                                 reason="wrong password or code to remove an authenticator app")
        form.add_error("credential", "That is neither your current password nor a current "
                                     "code from this app.")
    return render(request, "portal/totp_remove.html", {"device": device, "form": form})


@never_cache
@during_second_step
def verify_sign_in(request: HttpRequest, state: PendingSignIn) -> HttpResponse:
    """The second step of signing in with a code from an authenticator app."""
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        verdict = totp.verify(state.user, form.cleaned_data["code"])
        if verdict.ok:
            return second_step.succeed(request, "totp")
        if second_step.fail(request, state.user, "totp", verdict.reason):
            messages.error(request, "Too many wrong codes: your account is locked for now. "
                                    "Try again later or ask your administrator to unlock it.")
            return redirect("login")
        if verdict.reason == "code already used":
            form.add_error("code", "That code was already used. Wait for your app to show "
                                   "the next one and type that.")
        else:
            form.add_error("code", "That code is not right. " + CODE_HELP)
    return render(request, "portal/verify_code.html", {
        "form": form, "title": "Code from your authenticator app",
        "intro": "Open your authenticator app and type the code it shows for Keystead.",
        "others": len(factors.methods_for(state.user)) > 1,
    })

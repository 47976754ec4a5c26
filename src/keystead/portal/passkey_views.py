"""Passkey pages: manage them in the portal, sign in with one, use one as a second factor.

Each ceremony is two requests. The page's script first POSTs the form to an
``options`` address and gets the WebAuthn options as JSON (or ``{"error": ...}``
with status 400), asks the browser's ``navigator.credentials`` for a passkey,
puts the answer in the form's ``credential`` field and submits the form as an
ordinary POST, which answers with a redirect or the page with a message.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.login import factors, passkeys, second_step
from keystead.login.models import Passkey
from keystead.login.passkeys import PasskeyError
from keystead.login.second_step import PendingSignIn
from keystead.portal.forms import SignInForm
from keystead.portal.passkey_support import passkeys_possible
from keystead.portal.second_step_views import during_second_step
from keystead.portal.views import safe_next


def _json_error(exc: PasskeyError) -> JsonResponse:
    return JsonResponse({"error": exc.message}, status=exc.status)


# --- the portal: /account/passkeys/ --------------------------------------------------------

def _manage_page(request: HttpRequest, error: str = "", status: int = 200,
                 name: str = "") -> HttpResponse:
    return render(request, "portal/passkeys.html", {
        "passkeys": Passkey.objects.filter(user=request.user),
        "error": error, "name": name, "name_max": passkeys.NAME_MAX,
        "passkeys_possible": passkeys_possible(),
    }, status=status)


@require_GET
@login_required
def manage(request: HttpRequest) -> HttpResponse:
    return _manage_page(request)


@require_POST
@login_required
def registration_options(request: HttpRequest) -> JsonResponse:
    try:
        return JsonResponse(passkeys.registration_options(
            request, request.user, request.POST.get("name", "")))
    except PasskeyError as exc:
        return _json_error(exc)


@require_POST
@login_required
def add(request: HttpRequest) -> HttpResponse:
    try:
        passkey = passkeys.register(request, request.user, request.POST.get("credential", ""))
    except PasskeyError as exc:
        return _manage_page(request, exc.message, exc.status, request.POST.get("name", ""))
    messages.success(request, f"Passkey “{passkey.name}” added. You can sign in with it now.")
    return redirect("passkeys")


@require_POST
@login_required
def rename(request: HttpRequest, pk: int) -> HttpResponse:
    passkey = get_object_or_404(Passkey, pk=pk, user=request.user)
    try:
        passkeys.rename(request, passkey, request.POST.get("name", ""))
    except PasskeyError as exc:
        return _manage_page(request, exc.message, exc.status)
    messages.success(request, f"Passkey renamed to “{passkey.name}”.")
    return redirect("passkeys")


@require_POST
@login_required
def remove(request: HttpRequest, pk: int) -> HttpResponse:
    passkey = get_object_or_404(Passkey, pk=pk, user=request.user)
    name = passkey.name
    passkeys.remove(request, passkey)
    messages.success(request, f"Passkey “{name}” removed. Also delete it from the device or "
                              "password manager that holds it.")
    return redirect("passkeys")


# --- passwordless sign-in: /login/passkey --------------------------------------------------

@require_POST
def sign_in_options(request: HttpRequest) -> JsonResponse:
    try:
        return JsonResponse(passkeys.authentication_options(request))
    except PasskeyError as exc:
        return _json_error(exc)


@require_POST
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return HttpResponseRedirect(safe_next(request))
    try:
        user = passkeys.sign_in(request, request.POST.get("credential", ""))
        error, status = passkeys.GENERIC_FAILURE, 401
    except PasskeyError as exc:
        user, error, status = None, exc.message, exc.status
    if user is None:
        return render(request, "portal/sign_in.html", {
            "form": SignInForm(), "next": safe_next(request, ""), "passkey_error": error,
            "passkeys_possible": passkeys_possible(),
        }, status=status)
    # User verification on the authenticator makes the passkey multi-factor by itself,
    # so a second-factor requirement is already met.
    request.session.pop(second_step.SESSION_KEY, None)
    login(request, user, backend=second_step.SESSION_BACKEND)
    second_step.note_second_factor(request, second_step.PASSWORDLESS_PASSKEY)
    return HttpResponseRedirect(safe_next(request))


# --- passkey as the second factor: /login/verify/passkey/ ----------------------------------

def _verify_page(request: HttpRequest, user, error: str = "", status: int = 200) -> HttpResponse:
    other_ways = len(factors.methods_for(user)) > 1
    return render(request, "portal/passkey_verify.html", {"error": error, "other_ways": other_ways},
                  status=status)


@during_second_step
def verify(request: HttpRequest, state: PendingSignIn) -> HttpResponse:
    if request.method != "POST":
        return _verify_page(request, state.user)
    try:
        passkeys.verify_assertion(request, request.POST.get("credential", ""), user=state.user)
    except PasskeyError as exc:
        if exc.status == 400:  # a malformed or stale answer, not a wrong passkey
            audit.record("login.second_factor", request=request, actor=state.user,
                         target=state.user, outcome=Outcome.FAILURE,
                         detail={"method": "passkey", "reason": exc.reason[:500]})
            return _verify_page(request, state.user, exc.message, exc.status)
        if second_step.fail(request, state.user, "passkey", exc.reason[:500]):
            messages.error(request, "Too many failed attempts: the account is locked for now.")
            return redirect("login")
        return _verify_page(request, state.user, "That passkey did not confirm your sign-in. Use a "
                            "passkey registered to your account.", exc.status)
    return second_step.succeed(request, "passkey")


@require_POST
def verify_options(request: HttpRequest) -> JsonResponse:
    state = second_step.pending(request)
    if state is None:
        return JsonResponse({"error": "Your sign-in expired. Sign in with your password again."},
                            status=400)
    try:
        return JsonResponse(passkeys.authentication_options(request, state.user))
    except PasskeyError as exc:
        return _json_error(exc)

"""Sign-in, sign-out and the portal home page (the person's applications and account)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.generic import FormView

from keystead.directory import audit
from keystead.login import pending, second_step, throttle
from keystead.login.models import Passkey
from keystead.login.passwords import GENERIC_FAILURE, Result, SignIn, sign_in_with_password
from keystead.portal.applications import applications_of
from keystead.portal.forms import SignInForm
from keystead.portal.passkey_support import passkeys_possible
from keystead.providers.saml import single_logout
from keystead.secret import Secret
from keystead.sources.saml import sign_in_page as saml_sign_in


def safe_next(request: HttpRequest, default: str = settings.LOGIN_REDIRECT_URL) -> str:
    """The ``next`` target if it is an address back into Keystead (a path from the root, or
    a URL of this host), else ``default``. A bare word is no address: Django's
    ``redirect`` would take it for a view name."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith(("/", "http://", "https://")) and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


class SignInView(FormView):
    """The sign-in page; the decision itself is ``sign_in_with_password``."""

    template_name = "portal/sign_in.html"
    form_class = SignInForm

    def dispatch(self, request, *args, **kwargs):
        # ``?prompt=login``: asked to sign in again (the authorization endpoint's
        # prompt=login, max_age, id_token_hint). The form is shown even to a signed-in
        # browser, whose session stays valid until the new sign-in replaces it.
        if request.user.is_authenticated and request.GET.get("prompt") != "login":
            return HttpResponseRedirect(safe_next(request))
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "next": safe_next(self.request, ""),
                "passkeys_possible": passkeys_possible(), "saml": saml_sign_in.offer()}

    def get_initial(self):
        """The email from an OpenID Connect ``login_hint`` carried in ``next``, if any."""
        initial = super().get_initial()
        query = parse_qs(urlsplit(safe_next(self.request, "")).query)
        hint = (query.get("login_hint") or [""])[0].strip()
        if hint and len(hint) <= 254:
            initial["username"] = hint
        return initial

    def form_valid(self, form: SignInForm) -> HttpResponse:
        # The password step's writes (audit event, failure count or last_login) commit
        # together; the new session is saved by the session middleware.
        with transaction.atomic():
            result = sign_in_with_password(form.cleaned_data["username"],
                                           Secret(form.cleaned_data["password"]),
                                           request=self.request, door="portal")
            if result.throttled is not None:
                return throttled_page(self.request, result.throttled)
            if result.result is Result.FAILED:
                form.add_error(None, result.message or GENERIC_FAILURE)
                return self.form_invalid(form)
            return _signed_in(self.request, result)


def _signed_in(request: HttpRequest, result: SignIn) -> HttpResponse:
    if result.result is Result.MUST_CHANGE:
        pending.start(request, result.user, result.reasons, safe_next(request))
        return redirect("password_change_required")
    if result.notice:  # the directory's warning (LDAP strategy)
        messages.warning(request, result.notice)
    if result.expires_in_days is not None:
        messages.warning(
            request,
            f"Your password expires in {result.expires_in_days} day(s). "
            f"Change it now at {reverse('password_change')}.",
        )
    return second_step.after_password(request, result.user, safe_next(request),
                                      required=result.second_factor,
                                      admitted=not result.second_factor)


def throttled_page(request: HttpRequest, throttled: throttle.Throttled) -> HttpResponse:
    """429 Too Many Requests, saying when to try again (every throttled page)."""
    response = render(request, "portal/throttled.html", {"message": throttled.message},
                      status=429)
    response["Retry-After"] = str(throttled.retry_after)
    return response


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    """Sign out, then pass the logout on to the SAML applications this session signed in
    to (each in turn through the browser, ending on the sign-in page)."""
    saml_logout = single_logout.for_sign_out(request)  # needs the person: before logout
    if request.user.is_authenticated:
        audit.record("logout", request=request, target=request.user)
    logout(request)
    if saml_logout is not None:
        return single_logout.start(request, saml_logout)
    return redirect("login")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The person's start page: their applications, and the ways to look after the account."""
    user = request.user
    return render(request, "portal/home.html", {
        "applications": applications_of(user),
        "show_passkeys": passkeys_possible() or Passkey.objects.filter(user=user).exists(),
    })


def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``: browsers ask for it on pages that name no icon (the console's);
    the answer is Keystead's SVG icon rather than a 404 on every page."""
    return redirect(static("keystead/favicon.svg"))

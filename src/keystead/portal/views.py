"""Sign-in, sign-out and the portal home page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.generic import FormView

from keystead import hot_sql
from keystead.directory import audit
from keystead.login import pending, second_step
from keystead.login.passwords import GENERIC_FAILURE, Result, SignIn, sign_in_with_password
from keystead.portal import sign_in_page
from keystead.portal.forms import SignInForm
from keystead.secret import Secret


def safe_next(request: HttpRequest, default: str = settings.LOGIN_REDIRECT_URL) -> str:
    """The ``next`` target if it points back into Keystead, else ``default``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


class SignInView(FormView):
    """The sign-in page; the decision itself is ``sign_in_with_password``."""

    template_name = sign_in_page.TEMPLATE
    form_class = SignInForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            return redirect(safe_next(request))
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        """The plain page from ``sign_in_page`` (rendered once); the template otherwise."""
        if settings.DEBUG or messages.get_messages(request):
            return super().get(request, *args, **kwargs)
        return HttpResponse(sign_in_page.html(get_token(request), safe_next(request, ""),
                                              self.get_initial().get("username", "")))

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "next": safe_next(self.request, "")}

    def get_initial(self):
        """The email from an OpenID Connect ``login_hint`` carried in ``next``, if any."""
        initial = super().get_initial()
        query = parse_qs(urlsplit(safe_next(self.request, "")).query)
        hint = (query.get("login_hint") or [""])[0].strip()
        if hint and len(hint) <= 254:
            initial["username"] = hint
        return initial

    def form_valid(self, form: SignInForm) -> HttpResponse:
        response = password_sign_in(self.request, form.cleaned_data["username"],
                                    form.cleaned_data["password"])
        if response is None:
            form.add_error(None, GENERIC_FAILURE)
            return self.form_invalid(form)
        return response

    @classmethod
    def failed(cls, request: HttpRequest) -> HttpResponse:
        """The page again after a sign-in ``password_sign_in`` refused (``sign_in_post``)."""
        view = cls()
        view.setup(request)
        form = view.get_form()
        form.full_clean()
        form.add_error(None, GENERIC_FAILURE)
        return view.form_invalid(form)


def password_sign_in(request: HttpRequest, username: str, password: str) -> HttpResponse | None:
    """The sign-in with a well-formed email and password: where it goes next, or None if it
    was refused (the page then says ``GENERIC_FAILURE``)."""
    # One transaction for the sign-in's writes (audit event, failure count or last_login,
    # and the new session, saved here rather than by the session middleware): one commit,
    # one WAL flush, instead of one for each; on PostgreSQL the event, last_login and
    # session go with the COMMIT, in one round trip (``hot_sql.transaction_writes_at_commit``).
    with hot_sql.transaction_writes_at_commit():
        result = sign_in_with_password(username, Secret(password), request=request,
                                       door="portal")
        if result.result is Result.FAILED:
            return None
        # Every write of a successful password step is a short-lived record (session,
        # audit event, last_login, cleared failure count): its COMMIT need not wait for
        # the disk (``hot_sql.commit_asynchronously``). A refused one keeps the default.
        hot_sql.commit_asynchronously()
        response = _signed_in(request, result)
        if request.session.modified:
            request.session.save()
    return response


def _signed_in(request: HttpRequest, result: SignIn) -> HttpResponse:
    if result.result is Result.MUST_CHANGE:
        pending.start(request, result.user, result.reasons, safe_next(request))
        return redirect("password_change_required")
    if result.expires_in_days is not None:
        messages.warning(
            request,
            f"Your password expires in {result.expires_in_days} day(s). "
            f"Change it now at {reverse('password_change')}.",
        )
    return second_step.after_password(request, result.user, safe_next(request),
                                      required=result.second_factor)


def sign_in_post(request: HttpRequest) -> HttpResponse:
    """``POST /login/`` without the form classes (``SignInFirst`` calls it): what
    ``SignInView`` answers, for a fraction of the CPU.

    Only fields the sign-in form would accept as they are take this way (the same
    checks: present, the email stripped, within the lengths, no NUL character); anything
    else, and a browser already signed in, goes to ``SignInView`` for its usual answer.
    """
    email = request.POST.get("username", "").strip()
    password = request.POST.get("password", "")
    if (request.user.is_authenticated or not _plainly_valid(email, _EMAIL_FIELD)
            or not _plainly_valid(password, _PASSWORD_FIELD)):
        return sign_in_view(request)
    response = password_sign_in(request, email, password)
    return SignInView.failed(request) if response is None else response


_EMAIL_FIELD = SignInForm.base_fields["username"]
_PASSWORD_FIELD = SignInForm.base_fields["password"]


def _plainly_valid(value: str, field) -> bool:
    """Whether the form's field would take ``value`` (already stripped if the field strips)
    unchanged and without an error."""
    return 0 < len(value) <= field.max_length and "\x00" not in value


sign_in_view = SignInView.as_view()


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit.record("logout", request=request, target=request.user)
    logout(request)
    return redirect("login")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html")

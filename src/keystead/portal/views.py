"""Sign-in, sign-out and the portal home page."""

from __future__ import annotations

from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.portal.forms import SignInForm


class SignInView(LoginView):
    """The sign-in page. Every attempt, good or bad, is audited."""

    template_name = "portal/sign_in.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        audit.record("login", request=self.request, actor=form.get_user(),
                     target=form.get_user(), detail={"method": "password"})
        return response

    def form_invalid(self, form):
        attempted = form.data.get("username", "")[:254]
        audit.record("login", request=self.request, outcome=Outcome.FAILURE,
                     actor_label="anonymous", detail={"method": "password", "username": attempted})
        return super().form_invalid(form)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit.record("logout", request=request, target=request.user)
    logout(request)
    return redirect("login")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html")

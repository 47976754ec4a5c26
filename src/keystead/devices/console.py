"""Console → Enrolment tokens → Add: the form that makes a token through ``create_token``.
The clear value is rendered once in the answer page; it is not put in a message or the
session (both are stored), so it exists nowhere else."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from oauth2_provider.models import get_application_model

from keystead.devices.models import LOGIN_NAMES, MODES
from keystead.devices.services import EnrollmentRefused, TokenRequest, create_token
from keystead.directory.authorization import Actor


class TokenForm(forms.Form):
    application = forms.ModelChoiceField(
        queryset=get_application_model().objects.order_by("name"), to_field_name="client_id",
        help_text="The OpenID Connect application the agent signs in as; its token settings "
                  "must allow the password grant.")
    mode = forms.ChoiceField(choices=MODES, initial="do-not-store")
    check_seconds = forms.IntegerField(label="Check interval (seconds)", initial=300,
                                       help_text="30 to 86400.")
    hours = forms.IntegerField(label="Valid for (hours)", initial=24,
                               help_text="The token works once, within this time (1 to 720).")
    reset_url = forms.URLField(label="Password reset URL", required=False,
                               assume_scheme="https",
                               help_text="Shown after three wrong passwords. Empty: /reset.")
    login_name = forms.ChoiceField(label="Login name", choices=LOGIN_NAMES, initial="local")
    email_domain = forms.CharField(required=False, help_text="With 'local account name @ "
                                                             "domain': the domain.")
    label = forms.CharField(required=False, help_text="What the token is for.")


def add_token_view(request: HttpRequest) -> HttpResponse:
    """Make a token; the answer shows it once."""
    context = {**admin.site.each_context(request), "title": "New enrolment token"}
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            token, clear = create_token(TokenRequest(
                client_id=data["application"].client_id, mode=data["mode"],
                check_seconds=data["check_seconds"], hours=data["hours"],
                reset_url=data["reset_url"], login_name=data["login_name"],
                email_domain=data["email_domain"], label=data["label"],
            ), actor=Actor.person(request.user), request=request)
        except EnrollmentRefused as refused:
            for field, text in refused.problems.items():
                form.add_error("application" if field == "client_id" else field, text)
        else:
            return TemplateResponse(request, "admin/devices/token_created.html", {
                **context, "title": "Enrolment token made", "token": token,
                "clear": clear.reveal(), "server": request.build_absolute_uri("/")[:-1]})
    status = 400 if form.is_bound and form.errors else 200
    return TemplateResponse(request, "admin/devices/token_form.html",
                            {**context, "form": form}, status=status)

"""The console's site-wide settings: Keystead branding and one sign-in door.

Django's admin has its own login form. Keystead sends anonymous visitors to
the portal's sign-in page instead, so the console gets the same audit events
(and, as they arrive, the same lockout and second-factor checks) as every
other sign-in. Sign-out from the console is audited like the portal's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import update_wrapper
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from keystead import branding
from keystead.branding.console import branding_view
from keystead.directory import audit
from keystead.json_text import problem_text, unstorable
from keystead.login import mail_check
from keystead.login.mail_templates_console import mail_template_view, mail_templates_view


class KeysteadAdminSite(admin.AdminSite):
    """The console: Keystead's name and words, and the portal's sign-in door.

    Installed as the default site (``ConsoleConfig.default_site``), so every
    ``admin.site.register`` lands here.
    """

    site_header = "Keystead"
    site_title = "Keystead"
    index_title = "Administration"
    site_url = "/"
    logout_template = "admin/signed_out.html"

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """Anonymous visitors sign in at the portal; others see why they cannot enter."""
        if request.user.is_authenticated and request.method == "GET":
            # Django's page says this account is signed in but has no console access.
            return super().login(request, extra_context)
        target = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("admin:index", current_app=self.name)
        return redirect_to_login(target, settings.LOGIN_URL)

    def admin_view(self, view: Callable, cacheable: bool = False) -> Callable:
        """Every console page, wrapped as Django wraps it. What a list's filter, search,
        export or action would pass on to the database and fail on there is refused with
        400 first, naming the parameter (``refused_input``)."""
        wrapped = super().admin_view(view, cacheable)
        model_admin = getattr(view, "__self__", None)  # a ModelAdmin's own page
        model = getattr(model_admin, "model", None)

        def refusing(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            problem = refused_input(request, model)
            if problem is not None:
                return HttpResponseBadRequest(problem, content_type="text/plain; charset=utf-8")
            return wrapped(request, *args, **kwargs)

        return update_wrapper(refusing, wrapped)

    def get_urls(self) -> list[URLPattern]:
        return [path("mail/", self.admin_view(self.mail_view), name="mail"),
                path("branding/", self.admin_view(branding_view), name="branding"),
                path("mail-templates/", self.admin_view(mail_templates_view),
                     name="mail_templates"),
                path("mail-templates/<str:kind>/", self.admin_view(mail_template_view),
                     name="mail_template"),
                *super().get_urls()]

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        """Django's context with the installation's branded name as the site's name."""
        name = branding.current(request).name
        return {**super().each_context(request), "site_header": name, "site_title": name}

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        """Django's list of models, plus the installation's settings pages."""
        apps = super().get_app_list(request, app_label)
        if request.user.is_superuser and app_label in (None, "settings"):
            apps.append({"name": "Settings", "app_label": "settings", "app_url": "",
                         "has_module_perms": True, "models": [{
                             "name": "Mail", "object_name": "mail",
                             "admin_url": reverse("admin:mail", current_app=self.name),
                             "add_url": None, "view_only": True, "perms": {"view": True}}, {
                             "name": "Branding", "object_name": "branding",
                             "admin_url": reverse("admin:branding", current_app=self.name),
                             "add_url": None, "view_only": False, "perms": {"change": True}}, {
                             "name": "Mail templates", "object_name": "mail_templates",
                             "admin_url": reverse("admin:mail_templates", current_app=self.name),
                             "add_url": None, "view_only": False, "perms": {"change": True}}]})
        return apps

    def index(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """The dashboard (``dashboard_data``) above Django's list of models."""
        from keystead.directory.dashboard_data import index_context  # keeps this file's imports

        return super().index(request, {**index_context(request, self), **(extra_context or {})})

    def mail_view(self, request: HttpRequest) -> HttpResponse:
        """The mail settings (never the password) and a test mail with the server's answer.
        Superusers only: the settings are the installation's, not a person's."""
        if not request.user.is_superuser:
            raise PermissionDenied
        check = None
        recipient = request.user.email
        if request.method == "POST":
            recipient = request.POST.get("recipient", "")
            check = mail_check.send_test_mail(recipient, actor=request.user, request=request)
        return TemplateResponse(request, "admin/mail_settings.html", {
            **self.each_context(request), "title": "Mail",
            "rows": mail_check.described_settings(), "recipient": recipient, "check": check,
        })

    def logout(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """Sign out as the portal does: the SAML applications this session signed in to
        are passed the logout in turn through the browser (``single_logout``); the OIDC
        ones are told by back-channel logout (``user_logged_out``)."""
        from keystead.providers.saml import single_logout  # the console loads first

        saml_logout = None
        if request.method == "POST" and request.user.is_authenticated:
            audit.record("logout", request=request, target=request.user,
                         detail={"door": "admin"})
            saml_logout = single_logout.for_sign_out(request)  # needs the person
        response = super().logout(request, extra_context)
        if saml_logout is not None and not request.user.is_authenticated:
            return single_logout.start(request, saml_logout)
        return response


def short_time(value: datetime | None) -> str:
    """A compact local timestamp for list columns, so tables fit a laptop screen."""
    if value is None:
        return "—"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def short_date(value: datetime | None) -> str:
    """A local date for list columns where the time of day adds little (creation, expiry)."""
    if value is None:
        return "—"
    return timezone.localtime(value).strftime("%Y-%m-%d")


def refused_input(request: HttpRequest, model: type[models.Model] | None) -> str | None:
    """Why a console request cannot be answered, or None: a query parameter holding text
    no column can store (a NUL), a year filter the database cannot compute
    (``created_at__year=99999``), or selected rows (``_selected_action``) that are not
    ids of ``model``'s records."""
    for key, values in request.GET.lists():
        if any(unstorable(text) for text in (key, *values)):
            return problem_text(f"The address's parameter {key!r}")
        if key.endswith("__year") and not all(
                value.isascii() and value.isdigit() and 1 <= int(value) < 9999
                for value in values):
            return f"The address's parameter {key!r} must be a year, such as 2026."
    if model is not None and request.method == "POST":
        for value in request.POST.getlist(ACTION_CHECKBOX_NAME):
            try:
                model._meta.pk.to_python(value)
            except ValidationError:
                return (f"The selected row {value[:40]!r} is not a record of this list: "
                        "select rows on the list and try again.")
    return None

"""The console's site-wide settings: Keystead branding and one sign-in door.

Django's admin has its own login form. Keystead sends anonymous visitors to
the portal's sign-in page instead, so the console gets the same audit events
(and, as they arrive, the same lockout and second-factor checks) as every
other sign-in. Sign-out from the console is audited like the portal's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from keystead.directory import audit


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

    def logout(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if request.method == "POST" and request.user.is_authenticated:
            audit.record("logout", request=request, target=request.user,
                         detail={"door": "admin"})
        return super().logout(request, extra_context)


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

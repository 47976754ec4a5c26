"""LDAP sources in the console: list, add, change, and test them step by step.

Superusers only (the source decides how everyone signs in). Saving goes
through ``services.save_source`` and testing through ``check_connection``
and ``services.record_test``, so the console adds no rule of its own. The
bind password is write-only: the page never holds it, not even masked.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from keystead.directory.admin_guards import InstallationSettingsAdmin
from keystead.secret import Secret
from keystead.sources.ldap import services, sync_report
from keystead.sources.ldap.connection import check_connection
from keystead.sources.ldap.models import LdapSource, MethodChoice

PLAIN_WARNING = ("Plain LDAP sends the service account's and every person's password over "
                 "the network in clear. Use it only on a test network; choose LDAPS or "
                 "StartTLS otherwise.")


class LdapSourceForm(forms.ModelForm):
    bind_password = forms.CharField(
        label="Service bind password", required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: never shown again. Leave empty to keep the current one.")
    remove_bind_password = forms.BooleanField(
        label="Remove the service bind password", required=False)

    class Meta:
        model = LdapSource
        fields = services.EDITABLE
        help_texts = {"method": PLAIN_WARNING.replace("Plain", "Plain (clear text)", 1)}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:  # the fields' own errors first (a port that is not a number)
            return data
        setting = bool(data.get("bind_password"))
        found = services.problems({f: data.get(f) for f in services.EDITABLE},
                                  exclude_pk=self.instance.pk, setting_password=setting)
        for field, text in found.items():
            self.add_error(field if field in self.fields else None, text)
        return data


@admin.register(LdapSource)
class LdapSourceAdmin(InstallationSettingsAdmin):
    form = LdapSourceForm
    list_display = ("name", "enabled", "kind", "mode", "host", "port", "method_shown",
                    "last_test_ok", "last_test_at")
    readonly_fields = ("last_test_at", "last_test_ok", "last_test_message", "last_sync")
    change_form_template = "admin/ldap_source/change_form.html"
    fieldsets = (
        (None, {"fields": ("name", "enabled", "kind", "mode")}),
        ("Connection", {"fields": ("host", "port", "method", "ca_certificate",
                                   "connect_timeout", "operation_timeout")}),
        ("Finding people", {"fields": ("base_dn", "user_key", "user_filter", "bind_dn",
                                       "bind_password", "remove_bind_password")}),
        ("Attribute mapping", {"fields": ("unique_id_attribute", "email_attribute",
                                          "given_name_attribute", "family_name_attribute",
                                          "username_attribute")}),
        ("Groups and sync", {"classes": ("collapse",),
                             "fields": ("group_base_dn", "group_filter",
                                        "group_member_attribute", "sync_interval_minutes")}),
        ("Last test", {"fields": ("last_test_at", "last_test_ok", "last_test_message")}),
        ("Last sync", {"fields": ("last_sync",)}),
    )

    @admin.display(description="last sync")
    def last_sync(self, source: LdapSource) -> str:
        return sync_report.describe(source.last_sync_report)

    @admin.display(description="method")
    def method_shown(self, source: LdapSource) -> str:
        if source.method == MethodChoice.PLAIN:
            return "plain (passwords in clear!)"
        return source.get_method_display().split(" (")[0]

    def save_model(self, request: HttpRequest, obj: LdapSource, form: LdapSourceForm,
                   change: bool) -> None:
        data = form.cleaned_data
        password: Secret | object | None = services.KEEP
        if data.get("bind_password"):
            password = Secret(data["bind_password"])
        elif data.get("remove_bind_password"):
            password = None
        current = LdapSource.objects.get(pk=obj.pk) if change else None
        saved = services.save_source(current, {f: data.get(f) for f in services.EDITABLE},
                                     bind_password=password, actor=request.user,
                                     request=request)
        obj.pk = saved.pk
        obj.refresh_from_db()
        if obj.method == MethodChoice.PLAIN:
            messages.warning(request, PLAIN_WARNING)

    def delete_model(self, request: HttpRequest, obj: LdapSource) -> None:
        services.delete_source(obj, actor=request.user, request=request)

    def get_urls(self) -> list[URLPattern]:
        return [path("<path:object_id>/test/", self.admin_site.admin_view(self.test_view),
                     name="ldap_source_ldapsource_test"),
                *super().get_urls()]

    def test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Test connection / Test sign-in: each step with its result and the fix."""
        source = self.object_or_404(request, object_id, "No such LDAP source.")
        form = TestSignInForm(request.POST or None)
        steps, what, status = None, "", 200
        if request.method == "POST":
            if request.POST.get("action") == "sign-in":
                what = "sign-in"
                if form.is_valid():
                    username = form.cleaned_data["username"]
                    steps = check_connection(source.connection_settings(), username=username,
                                             password=Secret(form.cleaned_data["password"]),
                                             kind=source.kind)
                    services.record_test(source, steps, what=what, actor=request.user,
                                         username=username, request=request)
                else:
                    status = 400
            else:
                what = "connection"
                steps = check_connection(source.connection_settings(), kind=source.kind)
                services.record_test(source, steps, what=what, actor=request.user,
                                     request=request)
            form = TestSignInForm(initial={"username": request.POST.get("username", "")}) \
                if steps is not None else form
        return TemplateResponse(request, "admin/ldap_source/test.html", {
            **self.admin_site.each_context(request), "title": f"Test {source.name}",
            "source": source, "opts": self.opts, "form": form, "steps": steps, "what": what,
            "passed": bool(steps) and all(s.ok for s in steps),
            "plain": source.method == MethodChoice.PLAIN, "plain_warning": PLAIN_WARNING,
        }, status=status)


class TestSignInForm(forms.Form):
    """A person's name and password for Test sign-in: used for one bind, never kept."""

    username = forms.CharField(label="User name", max_length=256,
                               help_text="What the person types: the value of the user key.")
    password = forms.CharField(label="Password", strip=False, max_length=1024,
                               widget=forms.PasswordInput(render_value=False,
                                                          attrs={"autocomplete": "off"}))

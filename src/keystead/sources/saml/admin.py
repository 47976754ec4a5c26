"""SAML identity providers in the console: settings, and a status page for the IdP side.

Superusers only. Saving goes through ``changes.save_source``, whose refusals
(the certificate messages among them) land on the form's fields; a
certificate that expires within 30 days saves with a warning. The status
page shows what to give the identity provider (metadata address, entity id,
ACS) and the last refusal's precise reason.
"""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from keystead.directory.admin_guards import InstallationSettingsAdmin, RefusalsOnThePage
from keystead.sources.saml import certificates, changes, sp
from keystead.sources.saml.models import SamlSource


class SamlSourceForm(forms.ModelForm):
    """The source's fields; ``changes.check`` judges them as saving would."""

    class Meta:
        model = SamlSource
        fields = changes.EDITABLE
        widgets = {"certificate": forms.Textarea(attrs={"rows": 8, "cols": 70,
                                                        "spellcheck": "false"}),
                   "metadata_xml": forms.Textarea(attrs={"rows": 4, "cols": 70,
                                                         "spellcheck": "false"})}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:  # the fields' own errors first (a malformed URL)
            return data
        found = changes.check({f: data.get(f) for f in changes.EDITABLE},
                              exclude_pk=self.instance.pk)
        for field, text in found.items():
            self.add_error(field if field in self.fields else None, text)
        return data


@admin.register(SamlSource)
class SamlSourceAdmin(RefusalsOnThePage, InstallationSettingsAdmin):
    refusals = (changes.SourceRefused,)  # a clash a simultaneous save caused
    form = SamlSourceForm
    list_display = ("name", "enabled", "idp_entity_id", "user_key_shown", "last_success_at",
                    "last_error_at", "status_link")
    readonly_fields = ("last_error", "last_error_at", "last_success_at", "metadata_fetched_at")
    fieldsets = (
        (None, {"fields": ("name", "enabled")}),
        ("Identity provider", {
            "description": "Give the IdP's metadata URL (or XML) and the rest is read from it "
                           "and kept up to date; or fill in the entity id, SAML server "
                           "address and certificate yourself.",
            "fields": ("metadata_url", "metadata_xml", "metadata_refresh_hours",
                       "idp_entity_id", "sso_url", "sso_binding", "certificate")}),
        ("Matching people", {"fields": ("user_key", "identifier_attribute", "email_attribute",
                                        "given_name_attribute", "family_name_attribute",
                                        "create_people")}),
        ("Status", {"fields": ("last_success_at", "last_error_at", "last_error",
                               "metadata_fetched_at")}),
    )

    @admin.display(description="user key")
    def user_key_shown(self, source: SamlSource) -> str:
        return source.user_key.rsplit(":", 1)[-1]

    @admin.display(description="status")
    def status_link(self, source: SamlSource) -> str:
        return format_html('<a href="{}">Status and IdP setup</a>',
                           reverse("admin:saml_source_samlsource_status", args=[source.pk]))

    def save_model(self, request: HttpRequest, obj: SamlSource, form: SamlSourceForm,
                   change: bool) -> None:
        current = SamlSource.objects.get(pk=obj.pk) if change else None
        saved, warnings = changes.save_source(
            current, {f: form.cleaned_data.get(f) for f in changes.EDITABLE},
            actor=request.user, request=request)
        obj.pk = saved.pk
        obj.refresh_from_db()
        for warning in warnings:
            messages.warning(request, warning)


    def delete_model(self, request: HttpRequest, obj: SamlSource) -> None:
        changes.delete_source(obj, actor=request.user, request=request)

    def get_urls(self) -> list[URLPattern]:
        return [path("<path:object_id>/status/", self.admin_site.admin_view(self.status_view),
                     name="saml_source_samlsource_status"),
                *super().get_urls()]

    def status_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """What to give the IdP, the certificates' expiry, and the last refusal's reason."""
        source = self.object_or_404(request, object_id, "No such SAML identity provider.")
        now = datetime.datetime.now(datetime.UTC)
        checked = certificates.check_certificates(source.certificate, now)
        return TemplateResponse(request, "admin/saml_source/status.html", {
            **self.admin_site.each_context(request), "title": f"{source.name}: status",
            "source": source, "opts": self.opts,
            "metadata_url": sp.entity_id(), "acs_url": sp.acs_url(),
            "certificate_problems": [*checked.errors, *checked.warnings],
            "certificate_count": len(checked.certificates),
        })

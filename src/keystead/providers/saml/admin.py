"""SAML applications and the IdP's signing keys in the console.

Saving goes through ``services`` (permission, validation, audit), like every door.
The application list shows the IdP's metadata address and entity ID to give to SPs;
the signing keys page rotates the key with an overlap (``keys.rotate``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from keystead.directory.admin_guards import ReadOnlyAdmin, RefusalsOnThePage, actor
from keystead.directory.admin_site import short_time
from keystead.directory.authorization import may_change_installation_settings
from keystead.providers.saml import idp, keys, services
from keystead.providers.saml.admin_forms import ATTRIBUTE_LABELS, SamlApplicationForm
from keystead.providers.saml.models import SamlApplication, SigningKey


def _addresses() -> dict[str, str]:
    return {"metadata_url": idp.entity_id(), "entity_id": idp.entity_id(),
            "sso_redirect": idp.endpoint("sso/redirect"), "sso_post": idp.endpoint("sso/post"),
            "slo": idp.endpoint("slo/redirect")}


@admin.register(SamlApplication)
class SamlApplicationAdmin(RefusalsOnThePage, admin.ModelAdmin):
    refusals = (services.ApplicationRefused,)  # a clash a simultaneous save caused
    form = SamlApplicationForm
    list_display = ("name", "entity_id", "nameid_format_short", "enabled")
    search_fields = ("name", "slug", "entity_id")
    readonly_fields = ("entity_id", "launch_address")
    change_list_template = "admin/saml_idp/samlapplication/change_list.html"

    def get_fieldsets(self, request: HttpRequest, obj: SamlApplication | None = None):
        released = tuple(f"attribute_{what}" for what in ATTRIBUTE_LABELS)
        return [
            (None, {"fields": ("name", "slug", "enabled", "entity_id", "launch_address")}),
            ("SP metadata", {"fields": ("metadata_url", "metadata_xml")}),
            ("Signing and encryption", {"fields": ("sign_response", "sign_assertion",
                                                   "encryption")}),
            ("What the application learns", {"fields": ("nameid_format", *released)}),
            ("IdP-initiated sign-in", {"fields": ("relay_state",)}),
        ]

    @admin.display(description="NameID")
    def nameid_format_short(self, obj: SamlApplication) -> str:
        return obj.nameid_format.rsplit(":", 1)[-1]

    @admin.display(description="launch address (IdP-initiated sign-in)")
    def launch_address(self, obj: SamlApplication) -> str:
        return idp.endpoint(f"launch/{obj.slug}") if obj.pk else "—"

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        return super().changelist_view(request, {"title": "SAML applications",
                                                 **(extra_context or {}), "idp": _addresses()})

    def add_view(self, request: HttpRequest, form_url: str = "",
                 extra_context: dict | None = None):
        context = {"title": "Register a SAML application", "show_save_and_add_another": False,
                   **(extra_context or {})}
        return super().add_view(request, form_url, context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None):
        context = {"title": "SAML application", "show_save_and_add_another": False,
                   **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)


    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Deleted one at a time, from the application's page, through the service.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request: HttpRequest, obj: SamlApplication, form: Any,
                   change: bool) -> None:
        wanted = form.settings
        if change:
            services.change(SamlApplication.objects.get(pk=obj.pk), wanted,
                            actor=actor(request), request=request)
        else:
            made = services.register(wanted, actor=actor(request), request=request)
            obj.pk = made.pk

    def delete_model(self, request: HttpRequest, obj: SamlApplication) -> None:
        services.delete(obj, actor=actor(request), request=request)


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "state", "created", "signs", "published_until_short")
    # Never the private key: only what metadata publishes anyway, and the dates.
    fields = readonly_fields = ("certificate", "created_at", "signs_from", "published_until")
    change_list_template = "admin/saml_idp/signingkey/change_list.html"


    def get_queryset(self, request: HttpRequest):
        return keys.with_state(super().get_queryset(request), timezone.now())

    @admin.display(description="state")
    def state(self, obj: SigningKey) -> str:
        if obj.is_signing:
            return "signing"
        if obj.signs_from > timezone.now():
            return "next (published, not signing yet)"
        return "retired (published during the overlap)" if obj.is_published else "retired"

    @admin.display(description="created")
    def created(self, obj: SigningKey) -> str:
        return short_time(obj.created_at)

    @admin.display(description="signs from")
    def signs(self, obj: SigningKey) -> str:
        return short_time(obj.signs_from)

    @admin.display(description="published until")
    def published_until_short(self, obj: SigningKey) -> str:
        return short_time(obj.published_until) if obj.published_until else "as long as it exists"

    def get_urls(self) -> list[URLPattern]:
        return [path("rotate/", self.admin_site.admin_view(require_POST(self.rotate_view)),
                     name="saml_idp_signingkey_rotate"), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        keys.current()  # the first key exists once anyone looks
        return super().changelist_view(request, {
            "title": "IdP signing keys", **(extra_context or {}),
            "may_rotate": may_change_installation_settings(request.user), "idp": _addresses()})

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None):
        return super().change_view(request, object_id, form_url,
                                   {"title": "IdP signing key", **(extra_context or {})})

    def rotate_view(self, request: HttpRequest) -> HttpResponse:
        back = HttpResponseRedirect(reverse(f"{self.admin_site.name}:"
                                            "saml_idp_signingkey_changelist"))
        try:
            days = int(request.POST.get("overlap_days", ""))
            if not 0 <= days <= 365:
                raise ValueError
        except ValueError:
            messages.error(request, "Overlap: give a whole number of days from 0 to 365.")
            return back
        new = services.rotate_key(actor=actor(request), overlap=dt.timedelta(days=days),
                                  request=request)
        messages.success(request, f"A new signing key is published now and signs from "
                                  f"{short_time(new.signs_from)}; the current one stays "
                                  f"published for {days} days after that.")
        return back

"""OpenID Connect applications in the admin console, on Keystead's own pages.

Registering, changing and deleting go through the same service functions as
the REST API and the CLI (``clients.register_client``, ``change_client``,
``delete_client``), so every door accepts the same registrations and records
the same audit Events (door ``admin``). The form (``admin_forms``) asks only
what an administrator has to decide; OpenID Connect is on (RS256), the
authorization-code grant is ticked and PKCE is required by the site.

A confidential application's client secret is generated when it is registered
and shown on the next page only, with a copy button and a warning; Keystead
keeps a hash of it. "New client secret" replaces it and shows the new one once
(``client_secrets``). The clear secret lives on the request only: never in the
session, a message cookie, the audit log or a later page.

Each application's page shows the addresses discovery publishes (issuer,
discovery, endpoints, JWKS) for copying, and its live tokens (``live_tokens``)
with a way to revoke them. The toolkit's own token tables (access and refresh
tokens, authorization codes, ID tokens) are not in the menu: they hold hashes,
and what they mean is shown per application here and per person on the
person's page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST
from oauth2_provider import admin as dot_admin  # noqa: F401  (registers DOT's classes first)
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from keystead.directory.admin_guards import actor
from keystead.directory.admin_site import short_date, short_time
from keystead.directory.authorization import NotAllowed
from keystead.directory.models import User
from keystead.providers.oidc import live_tokens
from keystead.providers.oidc.admin_addresses import published_addresses
from keystead.providers.oidc.admin_forms import ApplicationForm
from keystead.providers.oidc.client_secrets import new_client_secret
from keystead.providers.oidc.clients import (
    allowed_grants_of,
    change_client,
    delete_client,
    register_client,
)
from keystead.secret import Secret

Application = get_application_model()
DOOR = "admin"

_TOKENS = (
    ("Tokens", {
        "fields": ("issue_refresh_tokens", "rotate_refresh_tokens", "access_token_seconds",
                   "refresh_token_seconds"),
        "description": "Empty lifetimes mean the site defaults."}),
    ("ID tokens and the person's identifier", {
        "fields": ("id_token_algorithm", "subject_type", "sector_identifier"),
        "classes": ("collapse",)}),
    ("Back-channel logout", {
        "fields": ("backchannel_logout_uri", "backchannel_logout_session_required"),
        "description": "Keystead POSTs a signed logout token here when a person's session "
                       "ends (OpenID Connect Back-Channel Logout 1.0)."}),
)
_MAIN = ("allowed_grants", "redirect_uris", "post_logout_redirect_uris", "skip_consent")


class ApplicationAdmin(admin.ModelAdmin):
    form = ApplicationForm
    view_on_site = False  # the toolkit's get_absolute_url names a page Keystead does not serve
    list_display = ("name", "client_id", "kind", "grants", "created_on")
    list_display_links = ("name",)
    list_filter = ("client_type",)
    search_fields = ("name", "client_id")
    list_select_related = ("keystead_settings",)  # the grants column reads it
    ordering = ("name", "pk")
    secret_template = "admin/oidc/application_secret.html"
    new_secret_template = "admin/oidc/application_new_secret.html"

    # -- the list -------------------------------------------------------------

    @admin.display(description="client type", ordering="client_type")
    def kind(self, obj) -> str:
        return "Confidential" if obj.client_type == Application.CLIENT_CONFIDENTIAL else "Public"

    @admin.display(description="allowed grants")
    def grants(self, obj) -> str:
        return ", ".join(allowed_grants_of(obj))

    @admin.display(description="registered", ordering="created")
    def created_on(self, obj) -> str:
        return short_date(obj.created)

    @admin.display(description="client secret")
    def secret_state(self, obj) -> str:
        if obj.client_type != Application.CLIENT_CONFIDENTIAL:
            return "None: a public client has no secret; it proves itself with PKCE."
        return ("Stored hashed: it was shown once, when it was made. If it is lost, use "
                "“New client secret” above.")

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Applications are deleted one at a time, from their page, after seeing what ends.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        return super().changelist_view(
            request, {"title": "OpenID Connect applications", **(extra_context or {})})

    # -- the form -------------------------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj=None) -> Any:
        if obj is None:
            return ((None, {"fields": ("name", "client_type", *_MAIN)}), *_TOKENS)
        return ((None, {"fields": ("name", "client_id", "kind", "secret_state", *_MAIN)}),
                *_TOKENS)

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> Any:
        return () if obj is None else ("client_id", "kind", "secret_state")

    def add_view(self, request: HttpRequest, form_url: str = "",
                 extra_context: dict | None = None):
        context = {"title": "Register an OpenID Connect application",
                   "show_save_and_add_another": False, "show_save_and_continue": False,
                   **(extra_context or {})}
        return super().add_view(request, form_url, context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None):
        context = {"title": "Application", "show_save_and_add_another": False,
                   **(extra_context or {})}
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_view_permission(request, obj):
            context.update(self._page_context(request, obj))
        return super().change_view(request, object_id, form_url, context)

    def _page_context(self, request: HttpRequest, obj) -> dict[str, Any]:
        live = live_tokens.of_application(obj)
        return {
            "published": published_addresses(request),
            "live": live,
            "live_rows": [(row, short_time(row.expires) if row.expires else "until revoked")
                          for row in live.rows],
            "may_change": self.has_change_permission(request, obj),
            "confidential": obj.client_type == Application.CLIENT_CONFIDENTIAL,
            "revoke_url": self._url("revoke_tokens", obj),
            "new_secret_url": self._url("new_secret", obj),
        }

    # -- saving through the services -------------------------------------------

    def save_model(self, request: HttpRequest, obj, form: ApplicationForm, change: bool) -> None:
        if change:
            changes = form.changes()
            if changes:
                change_client(obj, changes=changes, actor=actor(request), request=request,
                              door=DOOR)
            return
        app, secret = register_client(**form.registration(), actor=actor(request), request=request,
                                      door=DOOR)
        obj.pk = app.pk
        obj.refresh_from_db()
        # Kept on the request only, so it never reaches the session or a message cookie.
        request._keystead_client_secret = Secret(secret) if secret else None

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """Nothing: the token settings were saved with the application by the service."""

    def response_add(self, request: HttpRequest, obj, post_url_continue: str | None = None):
        secret = request.__dict__.pop("_keystead_client_secret", None)
        if secret is None:
            self.message_user(request, f"The application “{obj.name}” is registered. It is "
                                       "public: it has no secret and proves itself with "
                                       "PKCE.", messages.SUCCESS)
            return HttpResponseRedirect(self._url("change", obj))
        return self._show_secret(request, obj, secret, new=False)

    def response_change(self, request: HttpRequest, obj):
        self.message_user(request, f"Saved the application “{obj.name}”.", messages.SUCCESS)
        if "_continue" in request.POST:
            return HttpResponseRedirect(request.path)
        return HttpResponseRedirect(self._url("changelist"))

    def delete_model(self, request: HttpRequest, obj) -> None:
        delete_client(obj, actor=actor(request), request=request, door=DOOR)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        acting = actor(request)
        for obj in queryset:
            delete_client(obj, actor=acting, request=request, door=DOOR)

    def delete_view(self, request: HttpRequest, object_id: str,
                    extra_context: dict | None = None):
        obj = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if obj is not None:
            context.update(title=f"Delete the application “{obj.name}”?",
                           live=live_tokens.of_application(obj, limit=0))
        return super().delete_view(request, object_id, context)

    # -- the secret, shown once ------------------------------------------------

    def _show_secret(self, request: HttpRequest, obj, secret: Secret, *, new: bool):
        context = {
            **self.admin_site.each_context(request),
            "title": "New client secret" if new else "Application registered",
            "opts": self.opts,
            "original": obj,
            "new": new,
            "client_secret": secret.reveal(),
            "published": published_addresses(request),
            "change_url": self._url("change", obj),
        }
        request.current_app = self.admin_site.name
        response = TemplateResponse(request, self.secret_template, context)
        response["Cache-Control"] = "no-store"
        return response

    def new_secret_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET asks "Are you sure?"; POST (with the CSRF token) makes and shows the secret."""
        obj = self._object_to_change(request, object_id)
        if obj.client_type != Application.CLIENT_CONFIDENTIAL:
            self.message_user(request, f"“{obj.name}” is a public client: it has no secret "
                                       "to replace.", messages.WARNING)
            return HttpResponseRedirect(self._url("change", obj))
        if request.method == "POST":
            secret = new_client_secret(obj, actor=actor(request), request=request, door=DOOR)
            self.log_change(request, obj, [{"changed": {"fields": ["client secret"]}}])
            return self._show_secret(request, obj, secret, new=True)
        context = {**self.admin_site.each_context(request), "title": "New client secret",
                   "opts": self.opts, "original": obj, "change_url": self._url("change", obj),
                   "live": live_tokens.of_application(obj, limit=0)}
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.new_secret_template, context)

    # -- live tokens -------------------------------------------------------------

    def revoke_tokens_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Revoke all the application's tokens, or one person's (``person`` in the form)."""
        obj = self._object_to_change(request, object_id)
        person = None
        if request.POST.get("person"):
            person = User.objects.filter(pk=request.POST["person"]).first() \
                if request.POST["person"].isdigit() else None
            if person is None:
                self.message_user(request, "That person no longer exists; nothing was revoked.",
                                  messages.WARNING)
                return HttpResponseRedirect(self._url("change", obj) + "#live-tokens")
        try:
            done = live_tokens.revoke(actor=actor(request), application=obj, person=person,
                                      request=request, door=DOOR)
        except NotAllowed as refused:
            self.message_user(request, f"Nothing was revoked: {refused}", messages.ERROR)
            return HttpResponseRedirect(self._url("change", obj) + "#live-tokens")
        whose = f"{person.email}'s tokens" if person else "every token"
        if done.total:
            self.message_user(request, f"Revoked {whose} in “{obj.name}”: they stop working "
                                       "now, and the application must send people through "
                                       "sign-in again.", messages.SUCCESS)
        else:
            self.message_user(request, "Nothing to revoke: no live tokens were left.",
                              messages.INFO)
        return HttpResponseRedirect(self._url("change", obj) + "#live-tokens")

    # -- plumbing -------------------------------------------------------------------

    def _object_to_change(self, request: HttpRequest, object_id: str):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("No such application.")
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def _url(self, name: str, obj=None) -> str:
        info = f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_{name}"
        return reverse(info, args=(obj.pk,) if obj is not None else ())

    def get_urls(self) -> list[URLPattern]:
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<path:object_id>/new-secret/",
                 self.admin_site.admin_view(self.new_secret_view), name=f"{info}_new_secret"),
            path("<path:object_id>/revoke-tokens/",
                 self.admin_site.admin_view(require_POST(self.revoke_tokens_view)),
                 name=f"{info}_revoke_tokens"),
            *super().get_urls(),
        ]


admin.site.unregister(Application)
admin.site.register(Application, ApplicationAdmin)

# The toolkit's token tables: seen per application (above) and per person, not as tables.
for _model in (get_access_token_model(), get_refresh_token_model(), get_grant_model(),
               get_id_token_model()):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)

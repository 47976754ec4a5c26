"""API tokens in the admin console: issue (shown once), list, revoke.

A token acts as the administrator who issued it, so the form offers only the
scopes that administrator could exercise in the console: a token never
carries more power than its issuer.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from keystead.api.models import ApiToken
from keystead.api.scopes import SCOPES
from keystead.api.tokens import MAX_DAYS, grantable_scopes, issue_token, revoke_token
from keystead.directory.admin_site import short_date, short_time
from keystead.directory.authorization import Actor

DOOR = "admin"


class ApiTokenAddForm(forms.ModelForm):
    """Name, scopes and lifetime; the key and its hash are made by ``issue_token``."""

    scopes = forms.MultipleChoiceField(
        choices=(),
        widget=forms.CheckboxSelectMultiple,
        help_text="Only the scopes your own console permissions cover are offered.",
    )
    lifetime_days = forms.IntegerField(
        label="Lifetime (days)",
        min_value=0,
        max_value=MAX_DAYS,
        help_text="The token stops working after this many days. 0 means it never expires.",
    )
    #: Set per request by the admin.
    allowed_scopes: tuple[str, ...] = ()

    class Meta:
        model = ApiToken
        fields = ("name", "scopes")
        help_texts = {"name": "What the token is for, e.g. \"HR sync\"."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = [
            (scope, f"{scope} — {SCOPES[scope]}") for scope in self.allowed_scopes
        ]
        self.fields["lifetime_days"].initial = settings.API_TOKEN_DEFAULT_DAYS


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> Any:
        now = timezone.now()
        live = Q(revoked_at__isnull=True)
        if self.value() == "active":
            return queryset.filter(live & (Q(expires_at__isnull=True) | Q(expires_at__gt=now)))
        if self.value() == "expired":
            return queryset.filter(live, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens cannot be edited or deleted: issue a new one, revoke the old one."""

    list_display = (
        "name", "key_id", "owner", "scope_list", "status", "created", "expires", "last_used",
    )
    list_filter = (StatusFilter,)
    search_fields = ("name", "key_id", "owner__email")
    list_select_related = ("owner",)
    actions = ("revoke_tokens",)
    view_fields = (
        "name", "key_id", "owner", "scope_list", "status", "created_at", "expires_at",
        "revoked_at", "last_used_at",
    )

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        return ("name", "scopes", "lifetime_days") if obj is None else self.view_fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        return () if obj is None else self.view_fields

    def get_form(
        self, request: HttpRequest, obj: ApiToken | None = None, change: bool = False,
        **kwargs: Any,
    ) -> Any:
        if obj is None:
            kwargs["form"] = type(
                "ApiTokenAddForm", (ApiTokenAddForm,),
                {"allowed_scopes": tuple(grantable_scopes(Actor.person(request.user)))},
            )
        return super().get_form(request, obj, change=change, **kwargs)

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiToken) -> str:
        return ", ".join(obj.scopes)

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: ApiToken) -> str:
        return short_date(obj.created_at)

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, obj: ApiToken) -> str:
        return short_date(obj.expires_at) if obj.expires_at else "never"

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, obj: ApiToken) -> str:
        return short_time(obj.last_used_at)

    @admin.display(description="status")
    def status(self, obj: ApiToken) -> str:
        return obj.status

    # -- permissions: issue and revoke only --------------------------------

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("api.change_apitoken")

    # -- issuing -----------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        token, clear = issue_token(
            name=form.cleaned_data["name"],
            scopes=list(form.cleaned_data["scopes"]),
            owner=request.user,
            actor=Actor.person(request.user),
            days=form.cleaned_data["lifetime_days"],
            request=request,
            door=DOOR,
        )
        obj.pk = token.pk
        obj._state.adding = False
        obj.refresh_from_db()
        # Kept on the request only, so it never reaches the session or message cookie.
        request._keystead_issued_token = clear

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        """Show the clear token on this one response; it is not stored and never shown again."""
        clear = request.__dict__.pop("_keystead_issued_token")
        context = {
            **self.admin_site.each_context(request),
            "title": "API token issued",
            "opts": self.opts,
            "token": obj,
            "clear_token": clear.reveal(),
        }
        response = TemplateResponse(request, "admin/api/apitoken/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    # -- revoking ----------------------------------------------------------

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = 0
        acting = Actor.person(request.user)
        for token in queryset.filter(revoked_at__isnull=True):
            revoke_token(token, actor=acting, request=request, door=DOOR)
            revoked += 1
        if revoked:
            noun = "token" if revoked == 1 else "tokens"
            self.message_user(request, f"Revoked {revoked} {noun}. They stop working at once.",
                              messages.SUCCESS)
        else:
            self.message_user(request, "Nothing to do: the selected tokens were already revoked.",
                              messages.INFO)

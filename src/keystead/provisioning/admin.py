"""Provisioning in the console: connected systems, the queue and the archive.

Systems are added and changed here; their flags change through
``services.change_flags`` (audited, and enabling a system releases what
waited for it) and their secrets are write-only: the page never holds them.
The queue is read-only apart from its two actions, retry and cancel, which
call the services like every other door. No page shows a queued password.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from keystead.directory import audit
from keystead.directory.authorization import Actor, NotAllowed
from keystead.provisioning import services
from keystead.provisioning.connectors import ConnectorError, SettingsError, connector_for
from keystead.provisioning.models import ArchivedOperation, Operation, System
from keystead.secret import Secret

#: The secret each connector type uses, as the form names it.
SECRET_NAMES = {"ldap": "bind_password", "sql": "password"}


class SystemForm(forms.ModelForm):
    secret = forms.CharField(
        label="Secret", required=False, strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="The LDAP bind password or the database password. Write-only: leave empty "
                  "to keep the stored one.")
    clear_secret = forms.BooleanField(label="Remove the stored secret", required=False)

    class Meta:
        model = System
        fields = ["name", "connector", "settings", "read_only", "disabled", "block_create",
                  "block_update", "block_delete", "send_password_attributes_together"]

    def clean(self) -> dict[str, Any]:
        """Settings the connector cannot use are refused here, naming the setting."""
        cleaned = super().clean()
        settings = cleaned.get("settings")
        if settings is not None and not isinstance(settings, dict):
            self.add_error("settings", 'Give a JSON object, such as {"url": "ldap://…"}.')
        elif settings is not None and cleaned.get("connector"):
            try:
                connector_for(System(name=cleaned.get("name") or "",
                                     connector=cleaned["connector"], settings=settings)).close()
            except SettingsError as exc:
                self.add_error("settings", str(exc))
        return cleaned


@admin.register(System)
class SystemAdmin(admin.ModelAdmin):
    form = SystemForm
    list_display = ["name", "connector", "read_only", "disabled", "block_create",
                    "block_update", "block_delete"]
    list_filter = ["connector", "read_only", "disabled"]
    search_fields = ["name"]
    actions = ["test_connection"]

    def save_model(self, request: HttpRequest, obj: System, form: forms.ModelForm,
                   change: bool) -> None:
        secret = form.cleaned_data.get("secret")
        if form.cleaned_data.get("clear_secret"):
            obj.set_secrets({})
        elif secret:
            obj.set_secrets({**obj.secrets(), SECRET_NAMES.get(obj.connector, "secret"):
                             Secret(secret)})
        actor = Actor.person(request.user)
        if not change:
            super().save_model(request, obj, form, change)
            audit.record("provisioning.system.create", request=request, target=obj,
                         detail={"connector": obj.connector, "secret_set": bool(secret)})
            return
        flags = {name: form.cleaned_data[name] for name in services.FLAGS}
        stored = System.objects.get(pk=obj.pk)
        for name in services.FLAGS:  # flags change through the service below
            setattr(obj, name, getattr(stored, name))
        super().save_model(request, obj, form, change)
        if form.has_changed() and set(form.changed_data) - set(services.FLAGS):
            audit.record("provisioning.system.change", request=request, target=obj,
                         detail={"changed": sorted(set(form.changed_data)
                                                   - set(services.FLAGS) - {"secret"}),
                                 "secret_changed": bool(secret) or
                                 bool(form.cleaned_data.get("clear_secret"))})
        services.change_flags(obj, actor=actor, request=request, **flags)

    @admin.action(description="Test the connection", permissions=["view"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[System]) -> None:
        for system in queryset:
            try:
                connector = connector_for(system)
                try:
                    connector.test()
                finally:
                    connector.close()
            except ConnectorError as exc:
                self.message_user(request, f"{system.name}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{system.name}: connection works.",
                                  messages.SUCCESS)


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Operation)
class OperationAdmin(_ReadOnly):
    list_display = ["id", "system", "account_name", "kind", "state_in_words", "attempts",
                    "next_attempt_at", "short_error"]
    list_filter = ["state", "reason", "kind", "system"]
    search_fields = ["account_name"]
    ordering = ["id"]
    fields = ["system", "account_name", "kind", "attributes", "has_password", "state_in_words",
              "attempts", "next_attempt_at", "lease_owner", "lease_until", "last_error",
              "created_at", "updated_at"]
    readonly_fields = fields
    actions = ["retry", "cancel"]

    @admin.display(description="state")
    def state_in_words(self, obj: Operation) -> str:
        return obj.why

    @admin.display(description="password", boolean=True)
    def has_password(self, obj: Operation) -> bool:
        return obj.has_password

    @admin.display(description="last error")
    def short_error(self, obj: Operation) -> str:
        return obj.last_error[:120]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(services.CHANGE_OPERATIONS)

    has_cancel_permission = has_retry_permission

    def _each(self, request: HttpRequest, queryset: QuerySet[Operation], act, words: str) -> None:
        actor = Actor.person(request.user)
        done = 0
        for operation_id in queryset.values_list("id", flat=True):
            try:
                act(operation_id, actor=actor, request=request)
                done += 1
            except (services.ProvisioningRefused, NotAllowed) as refused:
                self.message_user(request, str(refused), messages.WARNING)
        if done:
            self.message_user(request, f"{done} operation(s) {words}.", messages.SUCCESS)

    @admin.action(description="Retry now", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[Operation]) -> None:
        self._each(request, queryset, services.retry, "queued to run again")

    @admin.action(description="Cancel", permissions=["cancel"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Operation]) -> None:
        self._each(request, queryset, services.cancel, "cancelled")


@admin.register(ArchivedOperation)
class ArchivedOperationAdmin(_ReadOnly):
    list_display = ["operation_id", "system", "account_name", "kind", "state", "attempts",
                    "ended_at"]
    list_filter = ["state", "kind", "system"]
    search_fields = ["account_name"]
    fields = ["operation_id", "system", "account_name", "kind", "attributes", "had_password",
              "state", "attempts", "last_error", "created_at", "ended_at"]
    readonly_fields = fields

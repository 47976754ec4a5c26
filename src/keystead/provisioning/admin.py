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
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from keystead import json_text
from keystead.directory.admin_guards import ReadOnlyAdmin, told_on_the_page
from keystead.directory.authorization import Actor, NotAllowed
from keystead.directory.models import Role
from keystead.provisioning import mapping, services, systems
from keystead.provisioning.models import (
    ArchivedOperation,
    MappedAttribute,
    Operation,
    PasswordPolicy,
    RoleSystem,
    SchemaAttribute,
    State,
    System,
)
from keystead.secret import Secret

#: The secret each connector type uses, as the form names it.
SECRET_NAMES = systems.SECRET_NAMES


def system_warnings(system: System) -> list[str]:
    """What the system's flags hold back, in words, with the count of operations each
    holds (none when the flags let everything through)."""
    flags = [words for flag, words in (
        ("read_only", "read-only: operations are queued but not executed"),
        ("disabled", "disabled: nothing is sent; operations wait until it is enabled"),
        ("block_create", "blocking creates"), ("block_update", "blocking updates"),
        ("block_delete", "blocking deletes")) if getattr(system, flag)]
    if not flags:
        return []
    waiting = system.operations.filter(
        state__in=[State.NOT_EXECUTED, State.BLOCKED, State.CREATED]).count()
    return [f"{system.name} is {'; '.join(flags)}. {waiting} operation(s) are waiting "
            "in the queue: clear the flag, then retry them under Provisioning → Operations."]


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
                  "block_update", "block_delete", "send_password_attributes_together",
                  "validation_policy", "generating_policy", "account_name_from",
                  "on_role_removal"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = self.fields["settings"]
        settings.decoder = json_text.StrictDecoder
        settings.error_messages["invalid"] = (
            'Enter a JSON object, such as {"url": "ldap://…"}, without NUL characters, '
            "unpaired surrogates, NaN or Infinity, numbers of thousands of digits or "
            "nesting hundreds deep.")

    def clean(self) -> dict[str, Any]:
        """Settings the connector cannot use are refused here, naming the setting."""
        cleaned = super().clean()
        settings = cleaned.get("settings")
        if settings is not None and cleaned.get("connector"):
            problem = systems.settings_problem(System(
                name=cleaned.get("name") or "", connector=cleaned["connector"],
                settings=settings))
            if problem:
                self.add_error("settings", problem)
        return cleaned


class MappedAttributeForm(forms.ModelForm):
    class Meta:
        model = MappedAttribute
        fields = ["name", "is_password", "source", "constant", "script"]
        widgets = {"script": forms.Textarea(attrs={"rows": 2, "cols": 50}),
                   "constant": forms.TextInput(attrs={"size": 20})}

    def clean(self) -> dict[str, Any]:
        """``__PASSWORD__`` unflagged, a script that does not compile, an attribute the
        schema does not have: refused here, naming the field and the fix."""
        cleaned = super().clean()
        # The inline formset sets the row's system before validation.
        schema = (SchemaAttribute.objects.filter(system_id=self.instance.system_id)
                  .values_list("name", flat=True) if self.instance.system_id else [])
        problems = mapping.mapping_problems(
            name=cleaned.get("name") or "", is_password=bool(cleaned.get("is_password")),
            source=cleaned.get("source") or "", constant=cleaned.get("constant") or "",
            script=cleaned.get("script") or "", schema=schema)
        for name, message in problems.items():
            self.add_error(name, message)
        return cleaned


class _SystemPart(admin.TabularInline):
    """Parts of a system change with the system: the system's change permission rules."""

    extra = 0

    def _may(self, request: HttpRequest) -> bool:
        return request.user.has_perm(services.CHANGE_SYSTEMS)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("provisioning.view_system") or self._may(request)


class MappedAttributeInline(_SystemPart):
    model = MappedAttribute
    form = MappedAttributeForm
    verbose_name = "mapped attribute"
    verbose_name_plural = ("Mapping: each system attribute from a Keystead attribute, a "
                           "constant or a CEL script. Password attributes get the password; "
                           "__PASSWORD__ (the main password) must be flagged too.")


class SchemaAttributeInline(_SystemPart):
    model = SchemaAttribute
    verbose_name_plural = "Schema read from the system (the action 'Read the schema')"
    fields = ["name", "required", "multivalued", "type"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RoleSystemInline(_SystemPart):
    model = RoleSystem
    verbose_name = "role granting an account here"
    verbose_name_plural = "Roles granting an account here"
    autocomplete_fields = ["role"]


@admin.register(System)
class SystemAdmin(admin.ModelAdmin):
    form = SystemForm
    list_display = ["name", "connector", "read_only", "disabled", "block_create",
                    "block_update", "block_delete", "held_back", "in_exception",
                    "last_reconciled_at"]
    list_filter = ["connector", "read_only", "disabled"]
    search_fields = ["name"]
    actions = ["test_connection", "read_schema"]
    inlines = [MappedAttributeInline, RoleSystemInline, SchemaAttributeInline]
    readonly_fields = ["last_reconciled_at", "last_reconciliation_summary"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[System]:
        """Each system with the counts of its operations that need an administrator."""
        held = Q(operations__state__in=[State.NOT_EXECUTED, State.BLOCKED])
        return super().get_queryset(request).annotate(
            held_back_count=Count("operations", filter=held),
            exception_count=Count("operations", filter=Q(operations__state=State.EXCEPTION)))

    @admin.display(description="not executed or blocked", ordering="held_back_count")
    def held_back(self, obj: System) -> int:
        return obj.held_back_count

    @admin.display(description="in exception", ordering="exception_count")
    def in_exception(self, obj: System) -> int:
        return obj.exception_count

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> Any:
        """A read-only, disabled or blocking system says on its page what it holds back,
        so the administrator who set the flag sees its effect."""
        system = self.get_object(request, object_id)
        if system is not None and request.method == "GET":
            for words in system_warnings(system):
                self.message_user(request, words, messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="last reconciliation")
    def last_reconciliation_summary(self, obj: System) -> str:
        """Counts, fixes queued and the accounts that differed (attribute names only),
        as ``keystead provision --reconcile`` recorded them."""
        found = obj.last_reconciliation or {}
        if not obj.last_reconciled_at or not found:
            return ("Never reconciled: run keystead provision --system NAME --reconcile.")
        counts = found.get("counts", {})
        lines = [", ".join(f"{counts.get(action, 0)} {words}" for action, words in (
            ("create", "to create"), ("change", "to change"), ("delete", "to delete"),
            ("only on target", "only on the target"), ("same", "unchanged")))
            + f"; {found.get('queued', 0)} fix(es) queued."]
        lines += [f"{item['account']}: {item['action']}"
                  + (f" ({', '.join(item['attributes'])})" if item["attributes"] else "")
                  for item in found.get("accounts", [])]
        if found.get("more_accounts"):
            lines.append(f"… and {found['more_accounts']} more.")
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any,
                     change: bool) -> None:
        """Mapping and role links are audited like the system's other changes; a role
        linked to a system gives its holders their accounts at once."""
        super().save_formset(request, form, formset, change)
        actor = Actor.person(request.user)
        system = form.instance
        if formset.model is MappedAttribute:
            systems.mapping_changed(
                system, [o.name for o in formset.new_objects]
                + [o.name for o, _ in formset.changed_objects]
                + [o.name for o in formset.deleted_objects], actor=actor, request=request)
        elif formset.model is RoleSystem:
            added = [o.role for o in formset.new_objects]
            removed = [o.role for o in formset.deleted_objects]
            for link, fields in formset.changed_objects:  # a row now names another role
                if "role" in fields:
                    added.append(link.role)
                    before = next(f.initial.get("role") for f in formset.forms
                                  if f.instance.pk == link.pk)
                    removed += list(Role.objects.filter(pk=before))
            systems.roles_changed(system, added, removed, actor=actor, request=request)

    @admin.action(description="Read the schema", permissions=["change"])
    def read_schema(self, request: HttpRequest, queryset: QuerySet[System]) -> None:
        actor = Actor.person(request.user)
        for system in queryset:
            try:
                count = systems.read_schema(system, actor=actor, request=request)
            except (systems.TargetFailed, NotAllowed) as exc:
                told_on_the_page(request, exc)
                self.message_user(request, f"{system.name}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{system.name}: {count} attributes read.",
                                  messages.SUCCESS)

    def save_model(self, request: HttpRequest, obj: System, form: forms.ModelForm,
                   change: bool) -> None:
        """Through the services the API calls: the same checks, the same audit events;
        flags change through ``services.change_flags``."""
        actor = Actor.person(request.user)
        secret = Secret(form.cleaned_data["secret"]) if form.cleaned_data.get("secret") else None
        if change:
            systems.change_system(obj, actor=actor, secret=secret, request=request,
                                  clear_secret=bool(form.cleaned_data.get("clear_secret")))
        else:
            systems.create_system(obj, actor=actor, secret=secret, request=request)

    def delete_model(self, request: HttpRequest, obj: System) -> None:
        systems.delete_system(obj, actor=Actor.person(request.user), request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[System]) -> None:
        actor = Actor.person(request.user)
        for system in queryset:
            systems.delete_system(system, actor=actor, request=request)

    @admin.action(description="Test the connection", permissions=["view"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[System]) -> None:
        actor = Actor.person(request.user)
        for system in queryset:
            result = systems.test_connection(system, actor=actor, request=request)
            self.message_user(request, result.message,
                              messages.SUCCESS if result.ok else messages.ERROR)


class PasswordPolicyForm(forms.ModelForm):
    class Meta:
        model = PasswordPolicy
        fields = ["name", "min_length", "max_length", "min_lowercase", "min_uppercase",
                  "min_digits", "min_symbols", "generated_length", "default_for_generation"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for problem in systems.policy_problems(cleaned):
            self.add_error(problem.field, problem.message)
        return cleaned


@admin.register(PasswordPolicy)
class PasswordPolicyAdmin(admin.ModelAdmin):
    """Policies systems validate and generate passwords with; changes are audited."""

    form = PasswordPolicyForm
    list_display = ["name", "min_length", "max_length", "generated_length",
                    "default_for_generation"]

    def save_model(self, request: HttpRequest, obj: PasswordPolicy, form: forms.ModelForm,
                   change: bool) -> None:
        systems.save_policy(obj, actor=Actor.person(request.user), request=request)

    def delete_model(self, request: HttpRequest, obj: PasswordPolicy) -> None:
        systems.delete_policy(obj, actor=Actor.person(request.user), request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[PasswordPolicy]) -> None:
        for policy in queryset:
            self.delete_model(request, policy)


@admin.register(Operation)
class OperationAdmin(ReadOnlyAdmin):
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
                told_on_the_page(request, refused)
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
class ArchivedOperationAdmin(ReadOnlyAdmin):
    list_display = ["operation_id", "system", "account_name", "kind", "state", "attempts",
                    "ended_at"]
    list_filter = ["state", "kind", "system"]
    search_fields = ["account_name"]
    fields = ["operation_id", "system", "account_name", "kind", "attributes", "had_password",
              "state", "attempts", "last_error", "created_at", "ended_at"]
    readonly_fields = fields

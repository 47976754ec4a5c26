"""Logon settings and group logon policies in the admin console.

Who may do what:

* viewing needs the model's view permission (or ``directory.manage_policy``);
* changing, adding and deleting need ``directory.manage_policy``, the one
  permission that says "may change how people sign in" (the Security
  administrator role has it). The model's change permission alone only shows
  the pages.

Saves go through ``keystead.policy.changes``, like the API and the command
line, so the checks and the audit event (``policy.update``,
``policy.group.create`` / ``.update`` / ``.delete`` with every changed
setting as ``[old, new]``) are the same from every door.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from keystead.directory.admin_site import short_time
from keystead.directory.authorization import Actor
from keystead.directory.models import Group, User
from keystead.policy import changes
from keystead.policy.changes import (
    GROUP_FIELDS,
    LABELS,
    LOCKOUT_FIELDS,
    PASSWORD_FIELDS,
    REUSE_EXPIRY_FIELDS,
    SETTING_FIELDS,
    STRATEGY_FIELDS,
    describe_value,
    settings_of,
)
from keystead.policy.forms import GroupPolicyForm, LogonPolicyForm
from keystead.policy.models import GroupPolicy, LogonPolicy, PolicySettings
from keystead.policy.services import effective_policy

MANAGE_PERMISSION = changes.MANAGE_POLICY  # what the pages offer; the service decides
DOOR = "admin"
STRICTEST_WINS = (
    "For each rule the strictest value of the installation policy and the group policies "
    "wins: a group policy can only tighten the rules for its members, never relax them."
)

SETTING_FIELDSETS = (
    ("Password rules", {
        "fields": PASSWORD_FIELDS,
        "description": "The defaults follow NIST SP 800-63B-4: length matters, character-type "
                       "rules do not, and every new password is screened against common and "
                       "breached passwords. Passwords that no longer comply after you tighten "
                       "a rule must be changed at the next sign-in.",
    }),
    ("Re-use and expiry", {"fields": REUSE_EXPIRY_FIELDS}),
    ("Lockout", {
        "fields": LOCKOUT_FIELDS,
        "description": "Locking stops password guessing but also lets anyone who knows an "
                       "email address lock that person out; a lockout period of some minutes "
                       "keeps both in check. The person is emailed when their account locks. "
                       "Locked accounts are listed under Users (filter: locked).",
    }),
)


def may_manage(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.has_perm(MANAGE_PERMISSION)


def _value(name: str, value: Any) -> str:
    return describe_value(name, value)


def settings_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> SafeString:
    """A small read-only table; the first column is the setting's label."""
    head = format_html_join("", "<th scope=\"col\">{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html('<table class="ks-policy-table"><thead><tr>{}</tr></thead>'
                       "<tbody>{}</tbody></table>", head, body)


def effective_for_user(user: User) -> SafeString:
    """The policy that applies to ``user``, saying which group tightened each rule."""
    site = settings_of(LogonPolicy.current())
    effective = changes.effective_settings(effective_policy(user))
    group_policies = list(GroupPolicy.objects.filter(group__members=user)
                          .select_related("group").order_by("group__name"))
    rows = []
    for name in SETTING_FIELDS:
        source = "installation"
        if effective[name] != site[name]:
            tighteners = [gp.group.name for gp in group_policies
                          if getattr(gp, name) == effective[name]]
            source = "group " + ", ".join(tighteners) if tighteners else "groups combined"
        rows.append((LABELS[name], _value(name, effective[name]), source))
    return settings_table(("Rule", "Applies to this user", "From"), rows)


class PolicyAdminBase(admin.ModelAdmin):
    """Permissions and saving shared by the installation and the group pages."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_manage(request) or super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_manage(request) or super().has_view_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_manage(request)

    def _advise(self, request: HttpRequest, policy: PolicySettings) -> None:
        for advice in changes.setting_advice(settings_of(policy)):
            self.message_user(request, advice, messages.WARNING)


@admin.register(LogonPolicy)
class LogonPolicyAdmin(PolicyAdminBase):
    """The installation's one policy: the list goes straight to it; no add, no delete."""

    form = LogonPolicyForm
    fieldsets = (
        ("Login strategy and second factors", {
            "fields": STRATEGY_FIELDS,
            "description": "Second factors stop someone who knows a password. Codes sent by "
                           "email are the weakest kind; people can also enrol an authenticator "
                           "app or a passkey in the portal. To require a second factor only "
                           "for some people (administrators, for example), add a group policy "
                           "with \"Require second factor\".",
        }),
        *SETTING_FIELDSETS,
        ("Group policies", {"fields": ("group_policies", "last_changed"),
                            "description": STRICTEST_WINS}),
    )
    readonly_fields = ("group_policies", "last_changed")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        policy = LogonPolicy.current()
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:policy_logonpolicy_change", args=(policy.pk,)))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: Any = None) -> HttpResponse:
        LogonPolicy.current()  # the page for the one row exists even on a fresh database
        extra = {"title": "Logon settings" if self.has_change_permission(request)
                 else "View logon settings", "subtitle": None,
                 "show_save_and_continue": False, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra)

    @admin.display(description="Stricter policies of groups")
    def group_policies(self, obj: LogonPolicy) -> SafeString:
        policies = list(GroupPolicy.objects.select_related("group").order_by("group__name"))
        if not policies:
            listed = format_html("None yet. <a href=\"{}\">Add a group policy</a>",
                                 reverse("admin:policy_grouppolicy_add"))
        else:
            listed = format_html_join(", ", '<a href="{}">{}</a>', (
                (reverse("admin:policy_grouppolicy_change", args=(gp.pk,)), gp.group.name)
                for gp in policies))
        return listed

    @admin.display(description="Last changed")
    def last_changed(self, obj: LogonPolicy) -> str:
        return short_time(obj.updated_at)

    def save_model(self, request: HttpRequest, obj: LogonPolicy, form: Any,
                   change: bool) -> None:
        # Only what this administrator changed, so a concurrent change to another
        # setting is kept rather than overwritten with the values this page showed.
        wanted = {name: form.cleaned_data[name] for name in form.changed_data
                  if name in SETTING_FIELDS or (name in STRATEGY_FIELDS
                                                and form.cleaned_data[name] not in (None, ""))}
        policy, _ = changes.update_installation_policy(
            wanted, actor=Actor.person(request.user), request=request, door=DOOR)
        obj.refresh_from_db()
        self._advise(request, policy)

    def response_change(self, request: HttpRequest, obj: LogonPolicy) -> HttpResponse:
        self.message_user(request, "The logon settings were saved.", messages.SUCCESS)
        return HttpResponseRedirect(request.path)


@admin.register(GroupPolicy)
class GroupPolicyAdmin(PolicyAdminBase):
    """Stricter policies for the members of a group."""

    form = GroupPolicyForm
    list_display = ("group", "require_second_factor", "min_length", "reuse", "expiry", "lockout",
                    "members", "changed")
    list_select_related = ("group",)
    search_fields = ("group__name",)
    ordering = ("group__name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[GroupPolicy]:
        return super().get_queryset(request).annotate(
            member_total=Count("group__members", distinct=True))

    def get_fieldsets(self, request: HttpRequest, obj: GroupPolicy | None = None) -> Any:
        group = ("group", {"fields": ("group", "require_second_factor", "strong_factors_only"),
                           "description": STRICTEST_WINS})
        sets: list[Any] = [(None, group[1]), *SETTING_FIELDSETS]
        if obj is not None:
            sets.append(("What members get", {
                "fields": ("strictest_wins",),
                "description": "Each rule as it applies to a member of this group, compared "
                               "with the installation's. A member of several groups gets the "
                               "strictest value over all of them; each user's page shows "
                               "their own.",
            }))
        return sets

    def get_readonly_fields(self, request: HttpRequest, obj: GroupPolicy | None = None) -> Any:
        return ("group", "strictest_wins") if obj is not None else ()

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """A new group policy starts from the installation's values."""
        return {**settings_of(LogonPolicy.current()),
                **super().get_changeform_initial_data(request)}

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "group":
            kwargs["queryset"] = Group.objects.filter(logon_policy__isnull=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return may_manage(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_manage(request)

    # -- columns ----------------------------------------------------------

    @admin.display(description="re-use blocked")
    def reuse(self, obj: GroupPolicy) -> str:
        return describe_value("reuse_blocked", obj.reuse_blocked)

    @admin.display(description="expires after (days)")
    def expiry(self, obj: GroupPolicy) -> str:
        return describe_value("expire_days", obj.expire_days)

    @admin.display(description="lockout")
    def lockout(self, obj: GroupPolicy) -> str:
        if not obj.max_failures:
            return "never"
        period = f"{obj.lock_minutes} min" if obj.lock_minutes else "until unlocked"
        return f"after {obj.max_failures} failures, {period}"

    @admin.display(description="members", ordering="member_total")
    def members(self, obj: GroupPolicy) -> int:
        return obj.member_total

    @admin.display(description="last changed", ordering="updated_at")
    def changed(self, obj: GroupPolicy) -> str:
        return short_time(obj.updated_at)

    @admin.display(description="Installation, this group, and what members get")
    def strictest_wins(self, obj: GroupPolicy) -> SafeString:
        site = LogonPolicy.current()
        mine, merged = settings_of(site), changes.combined(site, obj)
        rows = []
        for name in SETTING_FIELDS:
            if getattr(obj, name) == mine[name]:
                source = "both"
            elif merged[name] == mine[name]:
                source = "installation (this group's value is looser: no effect)"
            else:
                source = "this group"
            rows.append((LABELS[name], _value(name, mine[name]),
                         _value(name, getattr(obj, name)), _value(name, merged[name]), source))
        return settings_table(
            ("Rule", "Installation", "This group", "Members get", "Comes from"), rows)

    # -- saving -----------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: GroupPolicy, form: Any,
                   change: bool) -> None:
        if change:
            wanted = {name: form.cleaned_data[name] for name in form.changed_data
                      if name in GROUP_FIELDS}
            group = obj.group
        else:
            wanted = {name: form.cleaned_data[name] for name in GROUP_FIELDS}
            group = form.cleaned_data["group"]
        policy, _, _ = changes.save_group_policy(
            group, wanted, actor=Actor.person(request.user), request=request, door=DOOR)
        obj.pk = policy.pk
        obj._state.adding = False
        obj.refresh_from_db()
        self._advise(request, policy)

    def delete_model(self, request: HttpRequest, obj: GroupPolicy) -> None:
        changes.delete_group_policy(obj, actor=Actor.person(request.user), request=request,
                                    door=DOOR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[GroupPolicy]) -> None:
        acting = Actor.person(request.user)
        for policy in queryset.select_related("group"):
            changes.delete_group_policy(policy, actor=acting, request=request, door=DOOR)

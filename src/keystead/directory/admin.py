"""The admin console (Django admin, branded Keystead) for the directory.

Branding and sign-in live in ``admin_site``, users in ``admin_users``, the
read-only audit log in ``admin_events``; this module holds directory groups,
roles and admin roles.
"""

from __future__ import annotations

from typing import Any

import django.contrib.auth.admin  # noqa: F401  (registers auth.Group, replaced below)
from django import forms
from django.contrib import admin
from django.contrib.auth.models import Group as AuthGroup
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from keystead.directory.admin_audit import AuditedModelAdmin
from keystead.directory.admin_events import EventAdmin
from keystead.directory.admin_guards import RefusalsOnThePage
from keystead.directory.admin_users import UserAdmin
from keystead.directory.authorization import may_change_admin_roles
from keystead.directory.models import AdminRole, Group, Role
from keystead.directory.rules import RuleViolation

__all__ = ["AdminRoleAdmin", "EventAdmin", "GroupAdmin", "RoleAdmin", "UserAdmin"]

# Admin roles are shown once, as directory.AdminRole, not also as "Groups"
# under Authentication, where they would be confused with directory groups.
if admin.site.is_registered(AuthGroup):
    admin.site.unregister(AuthGroup)


@admin.register(Group)
class GroupAdmin(RefusalsOnThePage, AuditedModelAdmin):
    audit_name = "group"
    refusals = (RuleViolation,)  # a new name or member a connected system cannot take
    list_display = ("name", "member_count", "description")
    search_fields = ("name",)
    # The browser's own multiple choice list: Django's two-box picker and its search-as-
    # you-type widget both fail accessibility checks (unlabelled inputs, ARIA misuse).
    fields = ("name", "description", "external_id", "members", "created_at", "updated_at")
    readonly_fields = ("created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Group]:
        return super().get_queryset(request).annotate(member_total=Count("members", distinct=True))

    @admin.display(description="members", ordering="member_total")
    def member_count(self, obj: Group) -> int:
        return obj.member_total



@admin.register(Role)
class RoleAdmin(RefusalsOnThePage, AuditedModelAdmin):
    audit_name = "role"
    refusals = (RuleViolation,)  # a holder or name a connected system cannot take
    list_display = ("name", "user_count", "group_count", "description")
    search_fields = ("name",)
    fields = ("name", "description", "users", "groups", "created_at", "updated_at")
    readonly_fields = ("created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Role]:
        return super().get_queryset(request).annotate(
            user_total=Count("users", distinct=True), group_total=Count("groups", distinct=True)
        )

    @admin.display(description="users", ordering="user_total")
    def user_count(self, obj: Role) -> int:
        return obj.user_total

    @admin.display(description="groups", ordering="group_total")
    def group_count(self, obj: Role) -> int:
        return obj.group_total



@admin.register(AdminRole)
class AdminRoleAdmin(AuditedModelAdmin):
    """Bundles of console permissions, held by people through ``User.groups``. Anyone
    with the permission to view them sees them; only a superuser changes them
    (``may_change_admin_roles``), whatever Django permissions a role grants."""

    audit_name = "admin_role"
    list_display = ("name", "permission_count", "holder_count")
    search_fields = ("name",)
    ordering = ("name",)
    fields = ("name", "permissions", "holders")
    readonly_fields = ("holders",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AdminRole]:
        return super().get_queryset(request).annotate(
            permission_total=Count("permissions", distinct=True),
            holder_total=Count("user", distinct=True),
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return may_change_admin_roles(request.user)

    def has_change_permission(self, request: HttpRequest, obj: AdminRole | None = None) -> bool:
        return may_change_admin_roles(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: AdminRole | None = None) -> bool:
        return may_change_admin_roles(request.user)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "permissions":
            model = db_field.remote_field.model
            kwargs["queryset"] = model.objects.select_related("content_type")
            kwargs["widget"] = forms.CheckboxSelectMultiple
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description="permissions", ordering="permission_total")
    def permission_count(self, obj: AdminRole) -> int:
        return obj.permission_total

    @admin.display(description="holders", ordering="holder_total")
    def holder_count(self, obj: AdminRole) -> int:
        return obj.holder_total

    @admin.display(description="held by")
    def holders(self, obj: AdminRole) -> str:
        if obj.pk is None:
            return "—"
        emails = list(obj.user_set.order_by("email").values_list("email", flat=True)[:51])
        if len(emails) > 50:
            emails[50:] = ["…"]
        return ", ".join(emails) or "nobody yet"

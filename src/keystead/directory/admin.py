"""The admin console (Django admin, branded Keystead) for the directory.

Branding and sign-in live in ``admin_site``, users in ``admin_users``, the
read-only audit log in ``admin_events``; this module holds directory groups,
roles and admin roles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django.contrib.auth.admin  # noqa: F401  (registers auth.Group, replaced below)
from django import forms
from django.contrib import admin
from django.contrib.auth.models import Group as AuthGroup
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from keystead.directory import services
from keystead.directory.admin_audit import DOOR, AuditedModelAdmin
from keystead.directory.admin_events import EventAdmin
from keystead.directory.admin_guards import RefusalsOnThePage, actor
from keystead.directory.admin_users import UserAdmin
from keystead.directory.authorization import NotAllowed, may_change_admin_roles
from keystead.directory.models import AdminRole, Group, Role, User
from keystead.directory.rules import FieldProblem, RuleViolation

__all__ = ["AdminRoleAdmin", "EventAdmin", "GroupAdmin", "RoleAdmin", "UserAdmin"]

#: How many people a group's or a role's page names; the user list shows them all.
PEOPLE_SHOWN = 50

# Admin roles are shown once, as directory.AdminRole, not also as "Groups"
# under Authentication, where they would be confused with directory groups.
if admin.site.is_registered(AuthGroup):
    admin.site.unregister(AuthGroup)


class ThroughServices(RefusalsOnThePage, admin.ModelAdmin):
    """Groups and roles are saved and deleted by ``directory.services``, as through the
    API and SCIM, so the same permission check, rules and audit event apply whichever
    door is used. The page's form only checks the input; the service decides and
    writes, many-to-many fields included (``save_related`` saves nothing more).

    ``save_service`` and ``delete_service`` are the model's services; the form's fields
    are passed by name, but for its many-to-many fields, passed as lists of ids under
    the names ``related_ids`` maps them to."""

    # A new name or member a connected system cannot take; a member only a superuser may
    # add or take out (an account with console access).
    refusals = (RuleViolation, NotAllowed)
    save_service: Callable[..., Any]
    delete_service: Callable[..., None]
    related_ids: dict[str, str]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # The form has already put the new values on ``obj``: the service gets the row
        # as stored, so it sees (and records) what changed.
        current = type(obj).objects.filter(pk=obj.pk).first() if change else None
        if change and current is None:  # the service would create it anew
            raise RuleViolation([FieldProblem(
                "name", f"{obj} was deleted by someone else while this page was open.")])
        data = form.cleaned_data
        values = {name: value for name, value in data.items() if name not in self.related_ids}
        values.update({ids: [related.pk for related in data[name]]
                       for name, ids in self.related_ids.items()})
        saved = self.save_service(current, **values, actor=actor(request), request=request,
                                  door=DOOR)
        obj.pk = saved.pk
        obj._state.adding = False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """A viewer who may not change the record reads the people in its short list
        (``people_named``), not in Django's read-only text naming every one of them."""
        fields = super().get_fields(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            return [name for name in fields if name not in self.raw_id_fields]
        return fields

    def save_related(self, request: HttpRequest, form: Any, formsets: Any,
                     change: bool) -> None:
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_service(obj, actor=actor(request), request=request, door=DOOR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(Group)
class GroupAdmin(ThroughServices):
    save_service = staticmethod(services.save_group)
    delete_service = staticmethod(services.delete_group)
    related_ids = {"members": "member_ids"}
    list_display = ("name", "member_count", "description")
    search_fields = ("name",)
    # Members by id in a plain labelled box (with a link to pick from the user list), not a
    # list of every person in the directory: thousands of choices made the page take
    # seconds. Django's two-box picker and its search-as-you-type widget both fail
    # accessibility checks (unlabelled inputs, ARIA misuse). ``member_list`` names them.
    raw_id_fields = ("members",)
    fields = ("name", "description", "external_id", "members", "member_list", "created_at",
              "updated_at")
    readonly_fields = ("member_list", "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Group]:
        return super().get_queryset(request).annotate(member_total=Count("members", distinct=True))

    @admin.display(description="members", ordering="member_total")
    def member_count(self, obj: Group) -> int:
        return obj.member_total

    @admin.display(description="who they are")
    def member_list(self, obj: Group) -> SafeString:
        return people_named(obj.members.all() if obj.pk else User.objects.none(),
                            "directory_groups__id__exact", obj.pk)


@admin.register(Role)
class RoleAdmin(ThroughServices):
    save_service = staticmethod(services.save_role)
    delete_service = staticmethod(services.delete_role)
    related_ids = {"users": "user_ids", "groups": "group_ids"}
    list_display = ("name", "user_count", "group_count", "description")
    search_fields = ("name",)
    raw_id_fields = ("users",)  # by id, as a group's members (GroupAdmin)
    fields = ("name", "description", "users", "user_list", "groups", "created_at",
              "updated_at")
    readonly_fields = ("user_list", "created_at", "updated_at")

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

    @admin.display(description="who they are")
    def user_list(self, obj: Role) -> SafeString:
        return people_named(obj.users.all() if obj.pk else User.objects.none(),
                            "roles__id__exact", obj.pk)


def people_named(people: QuerySet[User], lookup: str, pk: int | None) -> SafeString:
    """The first ``PEOPLE_SHOWN`` emails of ``people``, and a link to all of them in the user
    list (filtered by ``lookup`` = ``pk``) when there are more: two queries at most,
    however many there are."""
    emails = list(people.order_by("email").values_list("email", flat=True)[:PEOPLE_SHOWN + 1])
    if not emails:
        return format_html("{}", "nobody yet")
    shown = format_html("{}", ", ".join(emails[:PEOPLE_SHOWN]))
    if len(emails) <= PEOPLE_SHOWN:
        return shown
    every = f"{reverse('admin:directory_user_changelist')}?{lookup}={pk}"
    return format_html('{}, … <a href="{}">all {} in the user list</a>', shown, every,
                       people.count())



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

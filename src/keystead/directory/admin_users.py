"""The console's user pages: list, add, a person's page, set password, (de)activate, delete.

A person's page (the change form) shows their details form first, then their
whole picture read by ``person_overview`` (groups and admin roles, second
factors, remembered browsers, sessions, applications, recent audit events) and
the buttons of ``admin_person_actions`` the viewer may use.

Who may act on whom is ``directory.authorization``'s decision, the same for
every door: accounts with console access (staff or superuser) are changed,
have their password set, are (de)activated, signed out or deleted only by a
superuser, and each action needs its permission. The console also lets only
superusers change console access, superuser status, admin roles and direct
permissions.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import unquote
from django.contrib.auth import update_session_auth_hash
from django.db import transaction
from django.db.models import QuerySet
from django.forms import CheckboxSelectMultiple
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.utils.safestring import SafeString
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.models import get_application_model

from keystead.devices.models import Device
from keystead.directory import (
    admin_people_io,
    admin_person_actions,
    audit,
    event_export,
    person_overview,
    services,
)
from keystead.directory.admin_audit import DOOR, AuditedModelAdmin
from keystead.directory.admin_forms import (
    ResetPasswordForm,
    UserAddForm,
    UserAddFormWithoutPassword,
    UserChangeForm,
)
from keystead.directory.admin_guards import RefusalsOnThePage, actor, may
from keystead.directory.admin_lockout import LockedFilter, UnlockAdminMixin, lock_state
from keystead.directory.admin_site import short_time
from keystead.directory.authorization import Action, refusal, require
from keystead.directory.models import AdminRole, Group, User
from keystead.directory.rules import RuleViolation
from keystead.directory.signals import email_changed, person_changed
from keystead.login import factors, sessions
from keystead.policy.admin import effective_for_user
from keystead.provisioning.models import Operation, System
from keystead.secret import Secret

PRIVILEGE_FIELDS = ("is_staff", "is_superuser", "groups")
#: Fields other code keeps up to date; the change form never writes them back.
NOT_SAVED_BY_FORM = frozenset({
    "password", "password_changed_at", "last_login", "failed_logins", "locked_at", "locked_until",
})


class DirectoryGroupFilter(admin.RelatedFieldListFilter):
    """Filter by directory group; titled so it is not mistaken for admin roles."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "directory group"


class AdminRoleFilter(admin.RelatedFieldListFilter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "admin role"


@admin.register(User)
class UserAdmin(RefusalsOnThePage, UnlockAdminMixin, AuditedModelAdmin):
    # A change a connected system's script cannot send.
    refusals = (RuleViolation,)
    audit_name = "user"
    form = UserChangeForm
    add_form_template = "admin/directory/user/add_form.html"
    change_user_password_template = "admin/directory/user/reset_password.html"
    list_display = (
        "email", "username", "given_name", "family_name", "is_active", "is_staff", "source",
        "last_seen",
    )
    list_filter = (
        "is_active",
        LockedFilter,
        "source",
        "is_staff",
        ("directory_groups", DirectoryGroupFilter),
        ("groups", AdminRoleFilter),
    )
    search_fields = ("email", "username", "given_name", "family_name", "external_id")
    ordering = ("email",)
    actions = ("activate_users", "deactivate_users", "unlock_users", "reset_second_factors",
               "sign_out_everywhere")
    readonly_fields = (
        "password_state", "admin_roles", "last_login", "password_changed_at", "date_joined",
        "updated_at", "lock_status", "failed_logins", "locked_at", "locked_until",
        "effective_logon_policy",
    )
    fieldsets = (
        (None, {"fields": ("email", "username", "password_state")}),
        ("Name", {"fields": ("given_name", "family_name")}),
        ("Account", {"fields": (
            "is_active", "must_change_password", "source", "source_id", "external_id",
        )}),
        ("Sign-in and lockout", {"fields": (
            "lock_status", "failed_logins", "locked_at", "locked_until",
        )}),
        ("Logon policy", {
            "fields": ("effective_logon_policy",),
            "classes": ("collapse",),
            "description": "The password and lockout rules that apply to this person: for "
                           "each rule, the strictest value of the installation's logon "
                           "settings and the policies of the groups they belong to.",
        }),
        ("Console access", {"fields": PRIVILEGE_FIELDS}),
        ("Dates", {"fields": ("last_login", "password_changed_at", "date_joined", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"fields": ("email", "username", "given_name", "family_name")}),
        ("Initial password", {"fields": ("password1", "password2")}),
    )

    # -- forms -------------------------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        if obj is None:
            if may(request, Action.SET_PASSWORD, None):
                return self.add_fieldsets
            return self.add_fieldsets[:1]
        if request.user.is_superuser:
            return self.fieldsets
        # Non-superusers see the privileges read-only, under an unambiguous label.
        privileges = ("is_staff", "is_superuser", "admin_roles")
        return tuple(
            (name, {"fields": privileges}) if name == "Console access" else (name, opts)
            for name, opts in self.fieldsets
        )

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and not request.user.is_superuser:
            readonly += ["is_staff", "is_superuser"]
        return readonly

    def get_form(
        self, request: HttpRequest, obj: User | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            may_set = may(request, Action.SET_PASSWORD, None)
            kwargs["form"] = UserAddForm if may_set else UserAddFormWithoutPassword
        else:
            kwargs["form"] = UserChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "groups":
            kwargs["label"] = "Admin roles"
            kwargs["widget"] = CheckboxSelectMultiple
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description="last login", ordering="last_login")
    def last_seen(self, obj: User) -> str:
        return short_time(obj.last_login)

    @admin.display(description="Password")
    def password_state(self, obj: User) -> str:
        return person_overview.password_state(obj)

    @admin.display(description="Admin roles")
    def admin_roles(self, obj: User) -> str:
        return ", ".join(obj.groups.order_by("name").values_list("name", flat=True)) or "—"

    @admin.display(description="Lock")
    def lock_status(self, obj: User) -> str:
        return lock_state(obj)

    @admin.display(description="Effective logon policy")
    def effective_logon_policy(self, obj: User) -> SafeString:
        return effective_for_user(obj)

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], add: bool = False,
                           change: bool = False, form_url: str = "", obj: User | None = None
                           ) -> HttpResponse:
        if obj is not None and not add:
            context.update(self._person_context(request, obj))
            if obj.is_locked() and self.has_unlock_permission(request, obj):
                context["unlock_url"] = self.unlock_url(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _person_context(self, request: HttpRequest, obj: User) -> dict[str, Any]:
        """The person's page below the form: their picture and the buttons for the viewer."""

        def can_view(model: Any) -> bool:
            model_admin = self.admin_site._registry.get(model)
            return model_admin is not None and model_admin.has_view_or_change_permission(request)

        may_read_audit = event_export.may_read(request.user)
        return {
            "person": person_overview.overview(
                obj, link_groups=can_view(Group), link_roles=can_view(AdminRole),
                link_applications=can_view(get_application_model()),
                link_systems=can_view(System), link_operations=can_view(Operation),
                link_computers=can_view(Device), with_events=may_read_audit),
            "person_buttons": admin_person_actions.buttons(request, obj),
            "person_refusal": refusal(actor(request), Action.CHANGE, obj),
            "may_read_audit": may_read_audit,
        }

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # Filtering on the hash would let a caller probe it character by character.
        # A role's holders are listed from the role's page (``RoleAdmin.user_list``).
        return not lookup.startswith("password") and (
            lookup == "roles__id__exact" or super().lookup_allowed(lookup, value, request))

    # -- permissions -------------------------------------------------------

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return super().has_change_permission(request, obj) and (
            obj is None or may(request, Action.CHANGE, obj))

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return super().has_delete_permission(request, obj) and (
            obj is None or may(request, Action.DELETE, obj))

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        refused = [refusal(actor(request), Action.DELETE, user) for user in objs]
        perms_needed = {*perms_needed, *(reason for reason in refused if reason)}
        return deleted, counts, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        services.delete_user(obj, actor=actor(request), request=request, door=DOOR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        with transaction.atomic():
            for user in queryset:
                services.delete_user(user, actor=actor(request), request=request, door=DOOR)

    # -- saving ------------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if change:
            who = actor(request)
            require(who, Action.CHANGE, obj)
            # Only the form's fields: a lock taken, or a password changed, while this
            # page was open must not be overwritten with the values read before. Enabling
            # and disabling go through the service, which also ends a disabled person's
            # access.
            obj.save(update_fields=[
                f.name for f in obj._meta.concrete_fields
                if not f.primary_key and f.name not in NOT_SAVED_BY_FORM
                and f.name != "is_active"
            ])
            details = {f: form.initial.get(f) for f in form.changed_data
                       if f in services.PERSON_FIELDS and f != "is_active"}
            # Connected systems follow, as for update_user: one announcement (one update
            # per account) for the details and being active together.
            active_changed = "is_active" in form.changed_data and services.set_active(
                obj, obj.is_active, actor=who, request=request, door=DOOR, details=details)
            if details and not active_changed:
                person_changed.send(sender=User, user=obj, request=request,
                                    changed=list(details), before=details)
            if "email" in form.changed_data:
                email_changed.send(sender=User, user=obj, request=request)
            return
        # New users go through the directory service, like every other door.
        created = services.create_user(
            {field: form.cleaned_data[field]
             for field in ("email", "username", "given_name", "family_name")},
            actor=actor(request),
            password=form.initial_password(),
            request=request,
            door=DOOR,
        )
        obj.pk = created.pk
        obj._state.adding = False
        obj.refresh_from_db()

    def audit_saved(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:  # creation was audited by services.create_user
            super().audit_saved(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: User, post_url_continue: str | None = None
    ) -> HttpResponse:
        # Like Django's UserAdmin: after adding, continue to the full change form.
        if "_addanother" not in request.POST and IS_POPUP_VAR not in request.POST:
            request.POST = request.POST.copy()
            request.POST["_continue"] = "1"
        return super().response_add(request, obj, post_url_continue)

    # -- bulk actions ------------------------------------------------------

    @admin.action(description="Activate selected users", permissions=["change"])
    def activate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, active=True)

    @admin.action(description="Deactivate selected users", permissions=["change"])
    def deactivate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, active=False)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[User], *, active: bool) -> None:
        verb = "activate" if active else "deactivate"
        who = actor(request)
        changed: list[User] = []
        skipped: list[str] = []
        for user in queryset.order_by("pk"):
            if user.is_active == active:
                continue
            reason = refusal(who, Action.DISABLE, user)
            if reason:
                skipped.append(f"{user.email} ({reason})")
                continue
            if services.set_active(user, active, actor=who, request=request, door=DOOR):
                changed.append(user)
        if changed:
            noun = "user" if len(changed) == 1 else "users"
            self.message_user(request, f"{verb.capitalize()}d {len(changed)} {noun}.",
                              messages.SUCCESS)
        if skipped:
            self.message_user(request, f"Not {verb}d: {'; '.join(skipped)}", messages.WARNING)
        if not changed and not skipped:
            state = "active" if active else "inactive"
            self.message_user(request, f"Nothing to do: the selected users are already {state}.",
                              messages.INFO)

    # -- reset second factors ----------------------------------------------

    @admin.action(description="Reset second factors of selected users", permissions=["change"])
    def reset_second_factors(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        """Remove every enrolled factor and remembered browser, after "Are you sure?"."""
        users = list(queryset.order_by("email"))
        allowed = [u for u in users if may(request, Action.RESET_FACTORS, u)]
        protected = [u for u in users if u not in allowed]
        if request.POST.get("post") != "yes":
            request.current_app = self.admin_site.name
            return TemplateResponse(
                request, "admin/directory/user/reset_factors_confirmation.html", {
                    **self.admin_site.each_context(request), "title": "Reset second factors",
                    "users": users, "allowed": allowed, "protected": protected,
                    "opts": self.opts,
                    "cancel_url": reverse(f"{self.admin_site.name}:directory_user_changelist"),
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME})
        for user in allowed:
            factors.reset_second_factors(user, actor=actor(request), request=request,
                                         door=DOOR)
        if allowed:
            self.message_user(request, "Second factors reset for "
                              f"{', '.join(u.email for u in allowed)}.", messages.SUCCESS)
        if protected:
            self.message_user(request, f"Not reset: {', '.join(u.email for u in protected)}. "
                              "Accounts with console access are reset only by a superuser.",
                              messages.WARNING)
        return None

    # -- sign out everywhere -----------------------------------------------

    @admin.action(description="Sign selected users out everywhere", permissions=["change"])
    def sign_out_everywhere(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        """End every session, remembered browser and issued token of the selected people."""
        who = actor(request)
        done, skipped = [], []
        for user in queryset.order_by("email"):
            reason = refusal(who, Action.SIGN_OUT, user)
            if reason:
                skipped.append(f"{user.email} ({reason})")
                continue
            sessions.sign_out_everywhere(user, actor=who, request=request, door=DOOR)
            done.append(user.email)
        if done:
            self.message_user(request, f"Signed out everywhere: {', '.join(done)}.",
                              messages.SUCCESS)
        if skipped:
            self.message_user(request, f"Not signed out: {'; '.join(skipped)}",
                              messages.WARNING)

    # -- set password ------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        return [
            *admin_people_io.urls(self),  # CSV import and export (before "<object_id>/")
            *admin_person_actions.urls(self),  # the person page's buttons
            path(
                "<id>/password/",
                self.admin_site.admin_view(self.user_change_password),
                name="directory_user_password_change",
            ),
            *super().get_urls(),
        ]

    @method_decorator(sensitive_post_parameters())
    def user_change_password(self, request: HttpRequest, id: str) -> HttpResponse:
        """Reset (or set) a person's password, through services.set_password.

        "Must change at next sign-in" is ticked by default (``ResetPasswordForm``).
        """
        user = self.get_object(request, unquote(id))
        if user is None:
            raise Http404("No such user.")
        require(actor(request), Action.SET_PASSWORD, user)  # refused: 403, audited
        form = ResetPasswordForm(user, request.POST or None)
        if request.method == "POST" and form.is_valid():
            if form.cleaned_data["set_usable_password"]:
                must_change = bool(form.cleaned_data.get("must_change"))
                try:
                    services.set_password(user, Secret(form.cleaned_data["password1"]),
                                          actor=actor(request), request=request, door=DOOR,
                                          must_change=must_change)
                except RuleViolation as exc:  # the policy changed since the form checked
                    for problem in exc.problems:
                        form.add_error("password1", problem.message)
                    return self._password_page(request, user, form)
                message = ("Password changed. They must choose a new one at their next "
                           "sign-in." if must_change else "Password changed.")
            elif "unset-password" in request.POST:
                with transaction.atomic():
                    user.set_unusable_password()
                    user.save(update_fields=["password", "updated_at"])
                    audit.record("user.password.disable", request=request, target=user,
                                 detail={"door": DOOR})
                message = "Password-based sign-in was disabled for this user."
            else:
                self.message_user(request, "Conflicting form data submitted. Please try again.",
                                  messages.ERROR)
                return HttpResponseRedirect(request.get_full_path())
            self.log_change(request, user, [{"changed": {"fields": ["password"]}}])
            if user.pk == request.user.pk:
                update_session_auth_hash(request, user)
            self.message_user(request, message, messages.SUCCESS)
            return HttpResponseRedirect(
                reverse(f"{self.admin_site.name}:directory_user_change", args=(user.pk,))
            )
        return self._password_page(request, user, form)

    def _password_page(self, request: HttpRequest, user: User,
                       form: ResetPasswordForm) -> HttpResponse:
        title = "Reset password: %s" if user.has_usable_password() else "Set password: %s"
        context = {
            **self.admin_site.each_context(request),
            "title": title % user.email,
            "adminForm": admin.helpers.AdminForm(
                form, [(None, {"fields": list(form.base_fields)})], {}
            ),
            "form_url": "",
            "form": form,
            "is_popup": IS_POPUP_VAR in request.POST or IS_POPUP_VAR in request.GET,
            "is_popup_var": IS_POPUP_VAR,
            "add": True,
            "change": False,
            "has_delete_permission": False,
            "has_change_permission": True,
            "has_absolute_url": False,
            "opts": self.opts,
            "original": user,
            "save_as": False,
            "show_save": True,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.change_user_password_template, context)

"""Locked accounts in the console: a "locked" filter, an unlock link, confirmation, bulk unlock.

Every unlock goes through ``keystead.login.lockout.unlock`` (door ``admin``),
the function the API and the command line call, so each one is audited the
same way. Only holders of ``directory.unlock_user`` see the link or the bulk
action; anyone else gets 403 on the page. As everywhere in the console, an
account with console access is unlocked only by a superuser.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from keystead.directory.admin_guards import actor, may
from keystead.directory.admin_site import short_time
from keystead.directory.authorization import Action
from keystead.directory.models import User
from keystead.login import lockout
from keystead.policy.lockout import locked_filter

DOOR = "admin"
LINK_TEXT = "Locked out (click to unlock)"


class LockedFilter(admin.SimpleListFilter):
    """Locked / Not locked, judged against the clock, not only the stored lock."""

    title = "locked"
    parameter_name = "locked"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Locked"), ("no", "Not locked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
        if self.value() == "yes":
            return queryset.filter(locked_filter(timezone.now()))
        if self.value() == "no":
            return queryset.exclude(locked_filter(timezone.now()))
        return queryset


def lock_state(user: User) -> str:
    """The lock in words, for the user page and the confirmation page."""
    if not user.is_locked():
        return "Not locked"
    since = short_time(user.locked_at)
    if user.locked_until is None:
        return f"Locked since {since}, until an administrator unlocks"
    return f"Locked since {since}, until {short_time(user.locked_until)}"


class UnlockAdminMixin(admin.ModelAdmin):
    """Adds the lock column, the unlock page and the bulk unlock action to the user admin."""

    unlock_template = "admin/directory/user/unlock_confirmation.html"

    def has_unlock_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return may(request, Action.UNLOCK, obj)

    def unlock_url(self, request: HttpRequest, user: User) -> str:
        url = reverse(f"{self.admin_site.name}:directory_user_unlock",
                      args=(user.pk,))
        preserved = self.get_preserved_filters(request)
        return add_preserved_filters({"preserved_filters": preserved,
                                      "opts": self.opts}, url)

    # -- the list ----------------------------------------------------------

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = list(super().get_list_display(request))
        now = timezone.now()

        @admin.display(description="current activity")
        def current_activity(user: User) -> SafeString | str:
            if not user.is_locked(now):
                if user.failed_logins:
                    noun = "sign-in" if user.failed_logins == 1 else "sign-ins"
                    return f"{user.failed_logins} failed {noun}"
                return "—"
            until = ("until an administrator unlocks" if user.locked_until is None
                     else f"until {short_time(user.locked_until)}")
            if may(request, Action.UNLOCK, user):
                return format_html('<a class="ks-unlock" href="{}" title="Locked {}">{}</a>',
                                   self.unlock_url(request, user), until, LINK_TEXT)
            return format_html('<span class="ks-locked" title="Only a superuser unlocks '
                               'accounts with console access">Locked out ({})</span>', until)

        # Right after the name, where it is seen without scrolling the table sideways.
        at = columns.index("family_name") + 1 if "family_name" in columns else len(columns)
        return (*columns[:at], current_activity, *columns[at:])

    # -- one user ----------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        return [
            path("<id>/unlock/", self.admin_site.admin_view(self.unlock_view),
                 name="directory_user_unlock"),
            *super().get_urls(),
        ]

    def _back_to_list(self, request: HttpRequest) -> str:
        url = reverse(f"{self.admin_site.name}:directory_user_changelist")
        preserved = self.get_preserved_filters(request)
        return add_preserved_filters({"preserved_filters": preserved, "opts": self.opts},
                                     url)

    def unlock_view(self, request: HttpRequest, id: str) -> HttpResponse:
        """GET asks "Are you sure?"; POST (with the CSRF token) unlocks."""
        user = self.get_object(request, unquote(id))
        if user is None:
            raise Http404("No such user.")
        if not self.has_unlock_permission(request, user):
            raise PermissionDenied
        if request.method == "POST":
            self._unlock(request, [user])
            return HttpResponseRedirect(self._back_to_list(request))
        return self._confirm(request, [user], single=True)

    # -- several users -----------------------------------------------------

    @admin.action(description="Unlock selected users", permissions=["unlock"])
    def unlock_users(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        users = list(queryset.order_by("email"))
        if request.POST.get("post") == "yes":
            self._unlock(request, users)
            return None
        if not any(user.is_locked() for user in users):
            self.message_user(request, "None of the selected users is locked.",
                              messages.INFO)
            return None
        return self._confirm(request, users, single=False)

    def _confirm(self, request: HttpRequest, users: list[User], *, single: bool) -> HttpResponse:
        now = timezone.now()
        all_locked = [u for u in users if u.is_locked(now)]
        locked = [u for u in all_locked if may(request, Action.UNLOCK, u)]
        protected = [u for u in all_locked if u not in locked]
        not_locked = [u for u in users if not u.is_locked(now)]
        if single:
            question = f"Are you sure you want to unlock {users[0].email}?"
        else:
            noun = "user" if len(locked) == 1 else "users"
            question = f"Are you sure you want to unlock these {len(locked)} {noun}?"
        context = {
            **self.admin_site.each_context(request),
            "title": "Unlock user" if single else "Unlock users",
            "question": question,
            "single": single,
            "users": users,
            "locked": [(u, lock_state(u)) for u in locked],
            "protected": protected,
            "not_locked": not_locked,
            "opts": self.opts,
            "cancel_url": self._back_to_list(request),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "preserved_filters": self.get_preserved_filters(request),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.unlock_template, context)

    def _unlock(self, request: HttpRequest, users: list[User]) -> None:
        now = timezone.now()
        unlocked, skipped, not_locked = [], [], []
        for user in users:
            if not user.is_locked(now):
                not_locked.append(user.email)
            elif not may(request, Action.UNLOCK, user):
                skipped.append(user.email)
            else:
                lockout.unlock(user, actor=actor(request), request=request, door=DOOR)
                unlocked.append(user.email)
        if len(unlocked) == 1:
            self.message_user(request, f"{unlocked[0]} is now unlocked.", messages.SUCCESS)
        elif unlocked:
            self.message_user(request, f"{len(unlocked)} users are now unlocked: "
                              f"{', '.join(unlocked)}.", messages.SUCCESS)
        if not_locked:
            self.message_user(request, "Not locked, so left as they were (a lockout period "
                              f"may have just ended): {', '.join(not_locked)}.", messages.INFO)
        if skipped:
            self.message_user(request, f"Not unlocked: {', '.join(skipped)}. Accounts with "
                              "console access are unlocked only by a superuser.",
                              messages.WARNING)

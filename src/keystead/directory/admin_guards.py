"""The console's questions to ``authorization``: who is asking, and may they do this."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from keystead.directory import audit
from keystead.directory.authorization import (
    Action,
    Actor,
    NotAllowed,
    allowed,
    may_change_installation_settings,
)
from keystead.directory.models import User


def actor(request: HttpRequest) -> Actor:
    """The administrator signed in to the console."""
    return Actor.person(request.user)


def told_on_the_page(request: HttpRequest, problem: Exception) -> None:
    """A problem the console shows as a message rather than answering 403: if it is a
    refusal, it is recorded as ``refusal_middleware`` records the ones it answers."""
    if isinstance(problem, NotAllowed):
        audit.refusal_answered("console.refused", request, problem)


def may(request: HttpRequest, action: Action, user: User | None) -> bool:
    """Whether the console's administrator may do ``action`` to ``user`` (None: any one)."""
    return allowed(actor(request), action, user)


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record the console shows but never adds, changes or deletes (the audit log, the
    mail outbox, the provisioning queue and archive, signing keys): what changes them
    does so through its own services."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class InstallationSettingsAdmin(admin.ModelAdmin):
    """Console pages for settings of the whole installation (sign-in sources, SAML
    applications): shown to, and changed by, only those ``authorization`` lets change
    installation settings; the services check again when saving."""

    def _may(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_change_installation_settings(request.user)

    has_module_permission = _may  # type: ignore[assignment]
    has_view_permission = _may  # type: ignore[assignment]
    has_add_permission = _may  # type: ignore[assignment]
    has_change_permission = _may  # type: ignore[assignment]
    has_delete_permission = _may  # type: ignore[assignment]

    def object_or_404(self, request: HttpRequest, object_id: str, missing: str) -> Any:
        """The object an extra page (test, status) is about, for those who may see it."""
        if not self._may(request):
            raise PermissionDenied
        found = (self.model.objects.filter(pk=object_id).first()
                 if object_id.isascii() and object_id.isdigit() else None)
        if found is None:
            from django.http import Http404

            raise Http404(missing)
        return found


class RefusalsOnThePage(admin.ModelAdmin):
    """A save the services refuse after the form's own checks passed (a script that cannot
    send a new name, a clash a simultaneous save caused) undoes the whole save, the
    view's transaction, and is told on the same page instead of an error page.

    ``refusals``: the services' exceptions to tell, each with a message for people."""

    refusals: tuple[type[Exception], ...] = ()

    def changeform_view(self, request: HttpRequest, object_id: str | None = None,
                        form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except self.refusals as refused:
            messages.error(request, f"Nothing was saved: {refused}")
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request: HttpRequest, object_id: str,
                    extra_context: dict | None = None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except self.refusals as refused:
            messages.error(request, f"Nothing was deleted: {refused}")
            return HttpResponseRedirect(request.get_full_path())

"""Audit events for changes made in the admin console.

Django's own admin history (LogEntry) is a convenience for editors; the audit
log is the security record, so every save and delete in the console also
writes an Event through ``keystead.directory.audit.record``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.forms import ModelForm
from django.http import HttpRequest

from keystead.directory import audit

DOOR = "admin"


def _m2m_names(form: ModelForm) -> list[str]:
    return [
        f.name
        for f in form.instance._meta.many_to_many
        if f.name in form.changed_data
    ]


def _related_labels(obj: models.Model, name: str) -> set[str]:
    return {str(related) for related in getattr(obj, name).all()}


class AuditedAdminMixin:
    """Records ``<audit_name>.create``, ``.update`` and ``.delete`` for a ModelAdmin.

    Many-to-many changes (members, admin roles, permissions) are recorded as
    added/removed lists, because "who gained access" is what an auditor asks.
    """

    audit_name: str = ""

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        form._audit_m2m_before = (  # type: ignore[attr-defined]
            {name: _related_labels(obj, name) for name in _m2m_names(form)} if change else {}
        )
        super().save_model(request, obj, form, change)  # type: ignore[misc]

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)  # type: ignore[misc]
        self.audit_saved(request, form.instance, form, change)

    def audit_saved(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        detail: dict[str, Any] = {"door": DOOR}
        if change:
            detail["changed"] = sorted(form.changed_data)
        before = getattr(form, "_audit_m2m_before", {})
        for name in _m2m_names(form):
            after = _related_labels(obj, name)
            old = before.get(name, set())
            detail[name] = {"added": sorted(after - old), "removed": sorted(old - after)}
        verb = "update" if change else "create"
        audit.record(f"{self.audit_name}.{verb}", request=request, target=obj, detail=detail)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit.record(f"{self.audit_name}.delete", request=request, target=obj,
                     detail={"door": DOOR})
        super().delete_model(request, obj)  # type: ignore[misc]

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        for obj in queryset:
            audit.record(f"{self.audit_name}.delete", request=request, target=obj,
                         detail={"door": DOOR})
        super().delete_queryset(request, queryset)  # type: ignore[misc]


class AuditedModelAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """A ModelAdmin whose saves and deletes leave audit Events."""

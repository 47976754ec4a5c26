"""Changing the branding: superusers only, validated, audited, all or nothing."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest

from keystead.branding import rules
from keystead.branding.models import BrandSetting
from keystead.directory import audit, authorization
from keystead.directory.models import User

_NO_CHANGE = object()


class BrandingRefused(ValueError):
    """Bad input; ``problems`` maps each field to a message that says how to fix it."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = problems


@dataclass(frozen=True)
class BrandChange:
    """The wanted values; ``logo`` is new bytes, ``b""`` to remove it, ``None`` to keep it."""

    name: str
    accent: str
    message: str
    logo: bytes | None = None


def problems(change: BrandChange) -> dict[str, str]:
    found = {
        "name": rules.name_problem(change.name),
        "accent": rules.accent_problem(change.accent),
        "message": rules.message_problem(change.message),
        "logo": rules.logo_problem(change.logo) if change.logo else None,
    }
    return {field: text for field, text in found.items() if text}


def change_branding(change: BrandChange, *, actor: User,
                    request: HttpRequest | None = None) -> list[str]:
    """Apply ``change`` and return the names of the fields that changed (audited as
    ``branding.change``; the logo is recorded by type and size, never its bytes)."""
    authorization.require_installation_setting(actor, event="branding.change",
                                               words="change the branding", request=request)
    found = problems(change)
    if found:
        raise BrandingRefused(found)
    with transaction.atomic():
        BrandSetting.objects.get_or_create(pk=1)
        setting = BrandSetting.objects.select_for_update().get(pk=1)
        changed = [field for field in ("name", "accent", "message")
                   if getattr(setting, field) != getattr(change, field)]
        values: dict = {field: getattr(change, field) for field in changed}
        detail: dict = {"changed": changed}
        if change.logo is not None:
            new_type = rules.logo_type(change.logo) if change.logo else ""
            if change.logo or setting.logo_type:
                values.update(logo=change.logo or None, logo_type=new_type)
                changed.append("logo")
                detail["logo"] = (f"{new_type}, {len(change.logo)} bytes" if change.logo
                                  else "removed")
        if not changed:
            return []
        BrandSetting.objects.filter(pk=1).update(**values, version=F("version") + 1)
        audit.record("branding.change", request=request, actor=actor, detail=detail)
    return changed

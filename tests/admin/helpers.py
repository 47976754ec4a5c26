"""Small helpers shared by the admin console tests."""

from __future__ import annotations

from typing import Any


def messages_of(response: Any) -> list[str]:
    """The banner messages rendered on a (followed) admin response."""
    return [str(m) for m in response.context["messages"]]


def changelist_emails(response: Any) -> list[str]:
    return [obj.email for obj in response.context["cl"].result_list]


def user_change_data(user: Any, **overrides: Any) -> dict[str, Any]:
    """POST data for a superuser's user change form, starting from the stored values."""
    data: dict[str, Any] = {
        "email": user.email,
        "username": user.username,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "source": user.source,
        "source_id": user.source_id,
        "external_id": user.external_id,
        "groups": [g.pk for g in user.groups.all()],
        "user_permissions": [p.pk for p in user.user_permissions.all()],
        "_save": "Save",
    }
    for flag in ("is_active", "must_change_password", "is_staff", "is_superuser"):
        if getattr(user, flag):
            data[flag] = "on"
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}

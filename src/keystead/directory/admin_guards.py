"""Who may touch whom in the console, shared by the user pages and the unlock pages.

A help desk must not be able to act on an administrator: accounts with
console powers (staff or superuser) are changed only by a superuser.
"""

from __future__ import annotations

from django.http import HttpRequest

from keystead.directory.models import User


def is_protected(request: HttpRequest, user: User | None) -> bool:
    """Whether ``user`` has console powers that the requesting admin may not touch."""
    if user is None or request.user.is_superuser:
        return False
    return user.is_staff or user.is_superuser

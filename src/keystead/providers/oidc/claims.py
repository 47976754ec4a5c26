"""Which claims Keystead hands out about a person, and the scope that releases each.

One table, read by the toolkit's validator (ID tokens from the code and password
grants, userinfo, the discovery document's ``claims_supported``) and by the lean
refresh grant, so the claims of an ID token cannot depend on the grant that
issued it.

Standard claims follow OpenID Connect Core §5.1. Two are Keystead's own:

- ``groups`` (scope ``groups``): the names of the person's directory groups.
- ``password_changed_at`` (scope ``profile``): when the password last changed,
  in seconds since the epoch (UTC), or absent if it never was. An endpoint that
  caches a password compares it with its own copy to notice a change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from keystead.directory.models import User


def _groups(user: User) -> list[str]:
    return sorted(user.directory_groups.values_list("name", flat=True))


def _password_changed_at(user: User) -> int | None:
    changed = user.password_changed_at
    return int(changed.timestamp()) if changed else None


# claim -> (the scope that releases it, how to read it from the person)
CLAIMS: dict[str, tuple[str, Callable[[User], Any]]] = {
    "email": ("email", lambda user: user.email),
    "email_verified": ("email", lambda user: True),
    "given_name": ("profile", lambda user: user.given_name),
    "family_name": ("profile", lambda user: user.family_name),
    "name": ("profile", lambda user: user.full_name),
    "password_changed_at": ("profile", _password_changed_at),
    "groups": ("groups", _groups),
}


def claims_for(user: User, scopes: Iterable[str]) -> dict[str, Any]:
    """``sub`` and every claim the granted scopes release; claims without a value are left out."""
    granted = set(scopes)
    found: dict[str, Any] = {"sub": str(user.pk)}
    for name, (scope, read) in CLAIMS.items():
        if scope in granted:
            value = read(user)
            if value is not None:
                found[name] = value
    return found

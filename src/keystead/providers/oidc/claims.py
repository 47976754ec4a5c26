"""Which claims Keystead hands out about a person, and the scope that releases each.

One table, read by the toolkit's validator for ID tokens from every grant,
userinfo and the discovery document's ``claims_supported``.

Standard claims follow OpenID Connect Core §5.1. Two are Keystead's own:

- ``groups`` (scope ``groups``): the names of the person's directory groups.
- ``password_changed_at`` (scope ``profile``): when the password last changed,
  in seconds since the epoch (UTC), or absent if it never was. An endpoint that
  caches a password compares it with its own copy to notice a change.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from keystead.directory.models import User
from keystead.providers.oidc.models import settings_for


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
    "preferred_username": ("profile", lambda user: user.username),
    "password_changed_at": ("profile", _password_changed_at),
    "groups": ("groups", _groups),
}


def _pairwise_key() -> bytes:
    """The key of pairwise identifiers: ``KEYSTEAD_OIDC_PAIRWISE_KEY`` if set, else the
    site's SECRET_KEY (changing it changes every pairwise ``sub``)."""
    key = settings.OIDC_PAIRWISE_KEY or settings.SECRET_KEY
    return key.encode() if isinstance(key, str) else key


def sector_of(application) -> str:
    """The application's sector: its ``sector_identifier``, else its first redirect
    URI's host (OpenID Connect Core §8.1), else (no redirect URI) ``client:<client_id>``."""
    configured = settings_for(application).sector_identifier.strip()
    if configured:
        return configured
    first = (application.redirect_uris or "").split()
    return (urlsplit(first[0]).hostname or "") if first else f"client:{application.client_id}"


def subject_for(user: User, application=None) -> str:
    """The ``sub`` an application knows the person by.

    Public (the default): the person's own random UUID (``User.subject``), never the
    database row number, which would reveal how many people there are and follow a
    restore. Pairwise (the application's ``ClientSettings.subject_type``): a keyed
    hash (HMAC-SHA256) of the sector and that UUID, so applications of different
    sectors cannot match people, and the value is the same on every request.
    """
    if application is None or settings_for(application).subject_type != "pairwise":
        return str(user.subject)
    message = f"{sector_of(application)}\x00{user.subject}".encode()
    return hmac.new(_pairwise_key(), message, hashlib.sha256).hexdigest()


def claims_for(user: User, scopes: Iterable[str], application=None) -> dict[str, Any]:
    """``sub`` (``subject_for``, as ``application`` knows the person) and every claim the
    granted scopes release; claims without a value are left out."""
    granted = set(scopes)
    found: dict[str, Any] = {"sub": subject_for(user, application)}
    for name, (scope, read) in CLAIMS.items():
        if scope in granted:
            value = read(user)
            if value is not None:
                found[name] = value
    return found

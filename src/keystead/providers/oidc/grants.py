"""Which grants an application may use: one rule, read by every door to the token endpoint.

django-oauth-toolkit registers one ``authorization_grant_type`` per application.
Keystead keeps a list of allowed grants in the application's token settings
(``ClientSettings.allowed_grants``), any of:

- ``authorization-code``: people sign in through the browser (with PKCE);
- ``client-credentials``: the application acts as itself;
- ``password``: the application sends a person's password (only when listed).

Refresh tokens are not a grant to tick: a refresh is allowed where the
authorization-code or password grant is allowed, unless the application's
token settings turn refresh tokens off. Client credentials never lead to a
refresh token (RFC 6749 §4.4.3).

An application without the list (registered before it existed, or created
without token settings) is allowed its one toolkit grant type.

``grant_allowed`` is the rule, on plain values; the toolkit's validator asks it
(``application_allows``) for every grant at the token endpoint and for the
authorization endpoint's ``code``.
"""

from __future__ import annotations

from collections.abc import Iterable

AUTHORIZATION_CODE = "authorization-code"
CLIENT_CREDENTIALS = "client-credentials"
PASSWORD = "password"

# In this order the first allowed one becomes the toolkit's single grant type.
CHOICES = [
    (AUTHORIZATION_CODE, "Authorization code (people sign in in the browser)"),
    (CLIENT_CREDENTIALS, "Client credentials (the application acts as itself)"),
    (PASSWORD, "Resource owner password (the application sends passwords)"),
]
NAMES = tuple(name for name, _ in CHOICES)
_PREFERENCE = (AUTHORIZATION_CODE, PASSWORD, CLIENT_CREDENTIALS)

# The token endpoint's grant_type (RFC 6749) -> the registered grants that allow it.
_ALLOWED_BY = {
    "authorization_code": frozenset({AUTHORIZATION_CODE}),
    "client_credentials": frozenset({CLIENT_CREDENTIALS}),
    "password": frozenset({PASSWORD}),
    "refresh_token": frozenset({AUTHORIZATION_CODE, PASSWORD}),
}


def effective_grants(registered_grant: str, allowed_grants: Iterable[str]) -> frozenset[str]:
    """The registered grants an application has: its list, or else its toolkit grant type."""
    listed = frozenset(allowed_grants or ())
    return listed if listed else frozenset({registered_grant})


def grant_allowed(grant_type: str, *, registered_grant: str, allowed_grants: Iterable[str],
                  issue_refresh_tokens: bool) -> bool:
    """Whether an application may use ``grant_type`` at the token endpoint.

    ``grant_type`` is the token request's ``grant_type`` (``authorization_code``,
    ``refresh_token``, ``client_credentials``, ``password``; the authorization
    endpoint asks for ``authorization_code``). The other arguments are the
    application's: ``Application.authorization_grant_type`` and
    ``ClientSettings.allowed_grants`` and ``.issue_refresh_tokens``. Any other
    grant type (device code, JWT bearer, ...) is not offered and gets False.
    """
    if grant_type == "refresh_token" and not issue_refresh_tokens:
        return False
    needs = _ALLOWED_BY.get(grant_type)
    if needs is None:
        return False
    return not needs.isdisjoint(effective_grants(registered_grant, allowed_grants))


def main_grant(grants: Iterable[str]) -> str:
    """The one toolkit grant type to store for a list of allowed grants."""
    listed = set(grants)
    for name in _PREFERENCE:
        if name in listed:
            return name
    raise ValueError("an application needs at least one allowed grant")


def ordered(grants: Iterable[str]) -> list[str]:
    """Allowed grants in the order they are shown (console, API, CLI)."""
    listed = set(grants)
    return [name for name in NAMES if name in listed]


def application_allows(application, grant_type: str) -> bool:
    """``grant_allowed`` for an application, reading its token settings (one query at most)."""
    from keystead.providers.oidc.models import settings_for

    client_settings = settings_for(application)
    return grant_allowed(grant_type, registered_grant=application.authorization_grant_type,
                         allowed_grants=client_settings.allowed_grants,
                         issue_refresh_tokens=client_settings.issue_refresh_tokens)

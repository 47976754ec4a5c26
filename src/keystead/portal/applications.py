"""The person's applications, for the portal's launcher.

An application belongs in a person's launcher once they have signed in to it
through Keystead and their grant still stands: a refresh token not revoked, or
an access token not expired. Signing out everywhere, an administrator's
revocation or the application's removal takes it off the list again.

Applications have no "launch URL" of their own yet, so the link is the origin
of the application's first web redirect URI (``https://app.example.com`` for
``https://app.example.com/oidc/callback``): the application's home, which
starts its own sign-in. An application whose redirect URIs are not web
addresses (a native app's ``com.example.app:/callback``) is listed without a
link. Enabled SAML applications are listed for everyone, linked to their
IdP-initiated sign-in address (``/saml/launch/<slug>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_refresh_token_model,
)

from keystead.directory.models import User
from keystead.web_address import is_web_address


@dataclass(frozen=True)
class LaunchItem:
    name: str
    url: str  # "" when the application has no web address to open
    kind: str  # "OpenID Connect" or "SAML"


def launch_url(redirect_uris: str) -> str:
    """The origin of the first http(s) redirect URI, or "" when there is none."""
    for uri in redirect_uris.split():
        if is_web_address(uri):
            parts = urlsplit(uri)
            return f"{parts.scheme}://{parts.netloc}"
    return ""


def applications_of(user: User) -> list[LaunchItem]:
    """The OpenID Connect applications ``user`` holds a standing grant for, by name, then
    the SAML applications, by name."""
    now = timezone.now()
    granted = set(get_refresh_token_model().objects.filter(user=user, revoked__isnull=True)
                  .values_list("application_id", flat=True))
    granted |= set(get_access_token_model().objects.filter(user=user, expires__gt=now)
                   .values_list("application_id", flat=True))
    apps = get_application_model().objects.filter(pk__in=granted).order_by("name", "pk")
    items = [LaunchItem(name=app.name or app.client_id, url=launch_url(app.redirect_uris),
                        kind="OpenID Connect") for app in apps]
    return items + saml_applications()


def saml_applications() -> list[LaunchItem]:
    """Enabled SAML applications, each opened by IdP-initiated sign-in."""
    from keystead.providers.saml.models import SamlApplication

    return [LaunchItem(name=app.name, url=reverse("saml_idp:launch", args=[app.slug]),
                       kind="SAML")
            for app in SamlApplication.objects.filter(enabled=True).order_by("name", "pk")]

"""The provider's addresses as an application's administrator copies them.

Read from the discovery document itself (``KeysteadDiscoveryView``), asked the
way an application asks, so the console shows exactly what discovery publishes:
the issuer (``KEYSTEAD_OIDC_ISSUER``, or else the address the request came in
on, as the toolkit builds it) and each endpoint. Nothing is assembled by hand
that could drift from what applications are told.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from oauth2_provider.settings import oauth2_settings

from keystead.providers.oidc.views import KeysteadDiscoveryView

DISCOVERY_PATH = "/.well-known/openid-configuration"

# (label, discovery key), in the order an application's configuration asks for them.
_ENDPOINTS = (
    ("Authorization endpoint", "authorization_endpoint"),
    ("Token endpoint", "token_endpoint"),
    ("Userinfo endpoint", "userinfo_endpoint"),
    ("JWKS (signing keys)", "jwks_uri"),
    ("End session (sign-out)", "end_session_endpoint"),
)


@dataclass(frozen=True)
class Address:
    label: str
    url: str
    slug: str  # an element id for the copy button


@dataclass(frozen=True)
class PublishedAddresses:
    addresses: list[Address]
    issuer: str
    #: Set when the console is opened at another address than KEYSTEAD_BASE_URL and the
    #: issuer follows the request: applications coming in at the base URL see that one.
    base_url_note: str = ""


def discovery_document(request: HttpRequest) -> dict:
    """What ``/.well-known/openid-configuration`` answers to a GET at this request's address."""
    probe = copy.copy(request)
    probe.method = "GET"
    response = KeysteadDiscoveryView.as_view()(probe)
    return json.loads(response.content)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def published_addresses(request: HttpRequest) -> PublishedAddresses:
    document = discovery_document(request)
    issuer = document["issuer"]
    addresses = [Address("Issuer", issuer, "issuer"),
                 Address("Discovery", issuer.rstrip("/") + DISCOVERY_PATH, "discovery")]
    addresses += [Address(label, document[key], key.replace("_", "-"))
                  for label, key in _ENDPOINTS if document.get(key)]
    note = ""
    if not oauth2_settings.OIDC_ISS_ENDPOINT and _origin(issuer) != _origin(settings.BASE_URL):
        note = (f"You opened the console at {_origin(issuer)}, and the issuer follows the "
                f"address a request comes in on. Applications that reach Keystead at "
                f"{settings.BASE_URL} (KEYSTEAD_BASE_URL) are told {settings.BASE_URL} "
                "instead; set KEYSTEAD_OIDC_ISSUER to fix the issuer for every address.")
    return PublishedAddresses(addresses=addresses, issuer=issuer, base_url_note=note)

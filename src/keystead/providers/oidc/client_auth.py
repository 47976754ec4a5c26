"""Who is calling the token endpoint: client authentication for Keystead's own grant handlers.

RFC 6749 §2.3.1: a confidential client sends its id and secret in HTTP Basic
(each form-urlencoded first) or as ``client_id`` / ``client_secret`` in the body;
a public client sends only ``client_id`` (§3.2.1), and has no secret to check.
The same rules as django-oauth-toolkit's validator, in one lookup: the
application and its token settings are read together.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from urllib.parse import unquote_plus

from django.contrib.auth.hashers import check_password
from django.http import HttpRequest
from oauth2_provider.models import get_application_model

Application = get_application_model()


class InvalidClient(Exception):
    """The client could not be authenticated (RFC 6749 §5.2 ``invalid_client``)."""

    def __init__(self, description: str, *, used_basic: bool) -> None:
        super().__init__(description)
        self.description = description
        self.used_basic = used_basic


@dataclass(frozen=True)
class Credentials:
    client_id: str
    secret: str | None  # None: none was sent (a public client)
    used_basic: bool


def credentials_from(authorization: str, form: dict[str, str]) -> Credentials | None:
    """The client's id and secret from the Authorization header or the form; None if absent.

    A malformed Basic header is an answer too (no credentials), never an exception.
    """
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, colon, secret = decoded.partition(":")
        if not colon:
            return None
        return Credentials(unquote_plus(client_id), unquote_plus(secret), used_basic=True)
    client_id = form.get("client_id", "")
    if not client_id:
        return None
    return Credentials(client_id, form.get("client_secret"), used_basic=False)


def secret_matches(sent: str, application) -> bool:
    """The sent secret against the stored one (hashed, or in clear if the application says so)."""
    if application.hash_client_secret:
        return check_password(sent, application.client_secret)
    return hmac.compare_digest(sent.encode(), application.client_secret.encode())


def authenticate(request: HttpRequest):
    """The calling application, with its token settings loaded, or ``InvalidClient``."""
    credentials = credentials_from(request.META.get("HTTP_AUTHORIZATION", ""), request.POST)
    if credentials is None:
        raise InvalidClient("Client authentication is required.", used_basic=False)
    application = (Application.objects.select_related("keystead_settings")
                   .filter(client_id=credentials.client_id).first())
    if application is None or not application.is_usable(request):
        raise InvalidClient("Unknown client.", used_basic=credentials.used_basic)
    if application.client_type == Application.CLIENT_CONFIDENTIAL:
        if not credentials.secret or not secret_matches(credentials.secret, application):
            raise InvalidClient("Wrong client credentials.", used_basic=credentials.used_basic)
    elif credentials.secret:
        raise InvalidClient("A public client has no secret.", used_basic=credentials.used_basic)
    return application

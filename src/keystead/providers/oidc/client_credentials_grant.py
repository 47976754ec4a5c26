"""The client-credentials grant (RFC 6749 §4.4), answered by Keystead.

An application acting as itself (a service, the endpoint agent's machine
account) asks for an access token with its own credentials. The token view
hands ``grant_type=client_credentials`` here instead of to the toolkit, with
the refresh grant (``refresh_grant``), so both grants that carry the token
endpoint's steady traffic run the same short path: one read of the client
with its token settings (``client_auth``), then the access token and its
audit Event in one transaction.

The answer matches the toolkit's: an opaque access token for no person,
stored as the toolkit stores it (its introspection and revocation see it), no
refresh token (§4.4.3), the requested scope if every scope in it is one
Keystead offers (otherwise ``invalid_scope``), or the site's default scope.
Only a confidential client whose allowed grants include client credentials
gets one (``unauthorized_client`` otherwise; a public client authenticates
with its id alone, so it has nothing to prove it is itself).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, set_token_value
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import generate_token

from keystead.directory import audit
from keystead.providers.oidc import client_auth, token_answers
from keystead.providers.oidc.grants import application_allows
from keystead.providers.oidc.models import settings_for
from keystead.providers.oidc.token_answers import issued, refuse

AccessToken = get_access_token_model()
Application = client_auth.Application
GRANT_TYPE = "client_credentials"


def granted_scope(requested: str | None) -> str | None:
    """The scope to grant: the requested one if Keystead offers all of it, else None;
    the site's default scope when none is requested."""
    if requested is None or not requested.strip():
        return " ".join(oauth2_settings.DEFAULT_SCOPES)
    scopes = list(dict.fromkeys(requested.split()))
    if not set(scopes) <= set(oauth2_settings.SCOPES):
        return None
    return " ".join(scopes)


def may_use(application) -> bool:
    """A confidential client with client credentials among its allowed grants."""
    return (application.client_type == Application.CLIENT_CONFIDENTIAL
            and application_allows(application, GRANT_TYPE))


def respond(request: HttpRequest) -> JsonResponse:
    """The token endpoint's answer to ``grant_type=client_credentials``."""
    application = token_answers.authenticated_client(request)
    if isinstance(application, JsonResponse):
        return application
    if not may_use(application):
        return refuse(request, "unauthorized_client",
                      "This client may not use the client_credentials grant.")
    scope = granted_scope(request.POST.get("scope"))
    if scope is None:
        return refuse(request, "invalid_scope",
                      f"Unknown scope; Keystead offers: {' '.join(oauth2_settings.SCOPES)}.")
    lifetime = settings_for(application).access_lifetime
    value = generate_token()
    access = AccessToken(user=None, application=application, scope=scope,
                         expires=timezone.now() + timedelta(seconds=lifetime))
    set_token_value(access, value)
    with transaction.atomic():
        access.save()
        # Never the token: which application, which scopes.
        audit.record("oidc.token_issued", request=request, target=application,
                     actor_label=f"client {application.client_id}",
                     detail={"scope": scope, "client_id": application.client_id,
                             "grant_type": GRANT_TYPE})
    return issued({"access_token": value, "expires_in": lifetime, "token_type": "Bearer",
                   "scope": scope})

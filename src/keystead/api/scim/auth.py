"""Bearer-token authentication for SCIM, telling "who are you?" (401) from "not allowed" (403).

``verify_token`` does the check and writes the audit event, the same as for the
REST API; a 401 makes a SCIM client ask for a new token, a 403 tells the
operator the token exists but lacks the ``scim`` scope.
"""

from __future__ import annotations

from django.http import HttpRequest

from keystead.api.models import ApiToken
from keystead.api.scim.errors import ScimError
from keystead.api.tokens import MissingScope, bearer_from, verify_token
from keystead.directory.authorization import Actor

SCOPE = "scim"
REALM = 'Bearer realm="keystead-scim"'


def authenticate(request: HttpRequest) -> ApiToken:
    """The request's token, or a ScimError 401/403. The token is kept on the request."""
    clear = bearer_from(request)
    if clear is None:
        raise ScimError(
            401, "Authentication required: send 'Authorization: Bearer <token>' with an API "
                 "token that has the 'scim' scope.",
            headers={"WWW-Authenticate": REALM},
        )
    try:
        token = verify_token(request, clear, SCOPE)
    except MissingScope:
        raise ScimError(
            403, "This API token does not have the 'scim' scope; create one with "
                 "'keystead token create --name <name> --scope scim'.",
            headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="scim"'},
        ) from None
    if token is None:
        raise ScimError(
            401, "The bearer token is unknown, expired or revoked.",
            headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
        )
    request.scim_token = token
    return token


def actor(request: HttpRequest) -> Actor:
    """Who acts in this SCIM request: its token, within its owner's permissions."""
    return Actor.token(request.scim_token)

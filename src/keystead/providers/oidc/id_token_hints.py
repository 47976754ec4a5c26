"""An ``id_token_hint`` at the authorization endpoint, recognised by its signature.

The authorization request may name the person it expects (OpenID Connect Core
§3.1.2.1); django-oauth-toolkit accepts the parameter but does not compare it
with the person signed in. The hint is only a hint: it counts when Keystead's
own key signed it (the current key or a retired one still in the JWKS) and its
``iss`` is this site, expired or not; anything else is ignored.
"""

from __future__ import annotations

import json

from django.http import HttpRequest
from jwcrypto.common import JWException
from jwcrypto.jwt import JWT
from oauth2_provider.settings import oauth2_settings


def verified_claims(token: str, request: HttpRequest) -> dict | None:
    """The claims of an ID token Keystead signed for this site (``iss``), or None.

    An expired token still names its person (a hint, not a credential): only the
    claims' types are checked, not ``exp``.
    """
    validator = oauth2_settings.OAUTH2_VALIDATOR_CLASS()
    try:
        key = validator._get_key_for_token(token)
    except (JWException, ValueError):  # not a JWS, or its payload is not JSON
        return None
    if not key:
        return None
    try:
        claims = json.loads(JWT(key=key, jwt=token, check_claims={}).claims)
    except (JWException, ValueError):  # bad signature, not JSON
        return None
    if not isinstance(claims, dict) or claims.get("iss") != oauth2_settings.oidc_issuer(request):
        return None
    return claims

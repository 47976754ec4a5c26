"""An ``id_token_hint`` (RP-initiated logout, the authorization request), recognised by its
signature alone.

The toolkit looks the hint up in its ID-token table by ``jti`` and refuses a
token it has no row for. Keystead's refresh grant stores no row per ID token:
an ID token is a signed statement, handed out and never looked up again except
here, and a row (with four index entries) per refresh was written for nothing
else. So the hint is accepted when Keystead's own key
signed it (the current key or a retired one still in the JWKS), its ``iss`` is
this site, and, unless ``OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS`` says
otherwise, it has not expired. Its ``aud`` names the application and its
``sub`` the person, which is all the logout needs from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.http import HttpRequest
from jwcrypto.common import JWException
from jwcrypto.jwt import JWT
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings

from keystead.directory.models import User
from keystead.providers.oidc import id_tokens


@dataclass(frozen=True)
class Hint:
    """What a valid hint says: whose ID token it was, and for which application."""

    application: object  # the toolkit's Application
    user: User | None


def verified_claims(token: str, request: HttpRequest, *, accept_expired: bool) -> dict | None:
    """The claims of an ID token Keystead signed for this site (``iss``), or None.

    ``accept_expired``: an expired token still names its person and application (a
    hint, not a credential); only the claims' types are checked then.
    """
    validator = oauth2_settings.OAUTH2_VALIDATOR_CLASS()
    try:
        key = validator._get_key_for_token(token)
    except (JWException, ValueError):  # not a JWS, or its payload is not JSON
        return None
    if not key:
        return None
    try:
        claims = json.loads(JWT(key=key, jwt=token,
                                check_claims={} if accept_expired else None).claims)
    except (JWException, ValueError):  # bad signature, expired, not JSON
        return None
    if not isinstance(claims, dict) or claims.get("iss") != id_tokens.issuer(request):
        return None
    return claims


def verified_hint(token: str, request: HttpRequest) -> Hint | None:
    """The logout hint's application and person, or None if Keystead did not issue it."""
    claims = verified_claims(
        token, request,
        accept_expired=oauth2_settings.OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS)
    if claims is None:
        return None
    application = get_application_model().objects.filter(client_id=claims.get("aud")).first()
    if application is None:
        return None
    subject = str(claims.get("sub", ""))
    user = User.objects.filter(pk=int(subject)).first() if subject.isdigit() else None
    return Hint(application=application, user=user)

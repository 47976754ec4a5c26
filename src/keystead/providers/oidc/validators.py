"""Keystead's rules inside django-oauth-toolkit's request handling.

Claims come from ``claims.CLAIMS`` (shared with the lean refresh grant); the
key that signs an ID token from ``id_tokens``; per-application token settings
from ``ClientSettings``; the password grant signs in like the sign-in page.
"""

from __future__ import annotations

import json

from django.db import router, transaction
from jwcrypto import jws
from oauth2_provider.bcp import bcp_compliant
from oauth2_provider.models import get_id_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749.errors import CustomOAuth2Error

from keystead.login.passwords import Result, sign_in_with_password
from keystead.providers.oidc import id_tokens, signing
from keystead.providers.oidc.claims import CLAIMS, claims_for
from keystead.providers.oidc.grants import application_allows
from keystead.providers.oidc.models import settings_for
from keystead.secret import Secret


class KeysteadValidator(OAuth2Validator):
    def get_additional_claims(self):
        # Only their names are read: DOT lists them in the discovery document's
        # ``claims_supported`` (the request-agnostic form, without ``request``). The
        # values come from ``get_oidc_claims``.
        return dict.fromkeys(CLAIMS)

    def get_oidc_claims(self, token, token_handler, request):
        """ID-token and userinfo claims: ``claims.claims_for``, as the refresh grant's."""
        return claims_for(request.user, request.scopes)

    def save_bearer_token(self, token, request, *args, **kwargs):
        """Apply the application's own token settings before the tokens are stored.

        ``token`` is also the response body, so what is stored is what is sent.
        """
        client_settings = settings_for(request.client)
        if not client_settings.issue_refresh_tokens:
            token.pop("refresh_token", None)
        if client_settings.access_token_seconds:
            token["expires_in"] = client_settings.access_token_seconds
        return super().save_bearer_token(token, request, *args, **kwargs)

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        """Keystead's allowed grants (``grants.grant_allowed``), not the toolkit's one type.

        A refused grant is ``unauthorized_client``, audited as ``oidc.token_refused``.
        """
        if not application_allows(request.client, grant_type):
            return False
        # The toolkit's own RFC 9700 switch for the password grant still applies.
        return not (grant_type == "password" and bcp_compliant(
            "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT",
            "The OAuth 2.0 resource owner password credentials grant"))

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs):
        """``code`` needs the authorization-code grant among the application's allowed grants."""
        if response_type == "code":
            return application_allows(client, "authorization_code")
        return super().validate_response_type(client_id, response_type, client, request,
                                              *args, **kwargs)

    def validate_user(self, username, password, client, request, *args, **kwargs) -> bool:
        """The password grant (only for clients allowed it) signs in like the portal.

        The same function as the sign-in page, so lockout, disabled accounts, policy
        and audit apply. A person who must change the password or give a second
        factor gets a clear error code, not a token: the password grant cannot ask.
        """
        outcome = sign_in_with_password(username or "", Secret(password or ""), door="oidc")
        if outcome.result is Result.FAILED:
            return False  # invalid_grant, the same for every reason (no enumeration)
        if outcome.result is Result.MUST_CHANGE:
            raise CustomOAuth2Error(
                "password_change_required", status_code=400, request=request,
                description="The password must be changed: sign in on the web page first.")
        if outcome.second_factor:
            raise CustomOAuth2Error(
                "second_factor_required", status_code=400, request=request,
                description="This account needs a second factor; use the authorization "
                            "code flow, which can ask for it.")
        request.user = outcome.user
        return True

    def validate_silent_login(self, request) -> bool:
        # prompt=none: the authorization view has already answered login_required
        # to anyone without a session (or whose sign-in is older than max_age).
        return True

    def validate_silent_authorization(self, request) -> bool:
        # prompt=none cannot show the consent page: only applications registered to
        # skip it get a code; the rest get consent_required.
        return bool(request.client and request.client.skip_authorization)

    def finalize_id_token(self, id_token, token, token_handler, request):
        """DOT's, except for the key: ES256 applications are signed with the EC key, and
        RS256 with the RSA key parsed once per process (DOT parses it on every token).
        """
        algorithms = {"algorithm": request.client.algorithm,
                      "id_token_algorithm": settings_for(request.client).id_token_algorithm}
        if id_tokens.signing_key(**algorithms) is None:
            return super().finalize_id_token(id_token, token, token_handler, request)
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce  # as DOT does (oauthlib bug #746)
        signed = id_tokens.sign(id_token, **algorithms)
        IDToken = get_id_token_model()
        with transaction.atomic(using=router.db_for_write(IDToken)):
            stored = self._save_id_token(id_token["jti"], request, expiration_time)
        request.access_token = stored
        request.id_token = stored
        return signed

    def _get_key_for_token(self, token):
        """The keys to verify one of our ID tokens (``id_token_hint`` at logout).

        DOT tries only the application's current key; Keystead also accepts the
        retired keys still in the JWKS, so a sign-out right after a key rotation
        still recognises the ID token the application holds.
        """
        unverified = jws.JWS()
        unverified.deserialize(token)
        algorithm = unverified.jose_header.get("alg")
        if algorithm not in ("RS256", "ES256"):
            return super()._get_key_for_token(token)
        claims = json.loads(unverified.objects["payload"].decode("utf-8"))
        if "aud" not in claims or not self._get_client_by_audience(claims["aud"]):
            return None
        if algorithm == "ES256":
            return signing.verification_keys()
        return signing.rsa_verification_keys()


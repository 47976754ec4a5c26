"""Keystead's rules inside django-oauth-toolkit's request handling.

The toolkit answers the authorization endpoint and the token endpoint's
authorization-code and password grants (oauthlib's grant types, the toolkit's
token storage), plus introspection, revocation, userinfo and RP-initiated
logout. Refresh and client credentials are answered by Keystead itself
(``refresh_grant``, ``client_credentials_grant``); the toolkit's refresh path
is switched off here (``validate_refresh_token``) so there is only one.

This validator's hooks are where Keystead decides, the same way as its own
grants do:

- who the client is (``client_auth.authenticate``, through
  ``authenticate_client`` and ``authenticate_client_id``);
- which grants an application may use (``grants.grant_allowed``);
- per-application token settings (``ClientSettings``): refresh tokens on or
  off, access-token lifetime, ES256 ID tokens;
- the claims (``claims.claims_for``; ``amr``/``acr`` from ``sign_in_methods``)
  and the key that signs an ID token (``id_tokens``); the sign-in time, its
  methods and the granted scope of a new token family are kept
  (``FamilySignIn``) for the refresh grant;
- the password grant signs in like the sign-in page
  (``sign_in_with_password``).

Refusals raised here carry a description that names the reason; the token view
records each refusal once, as ``oidc.token_refused``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from jwcrypto import jws
from oauth2_provider.bcp import bcp_compliant
from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors

from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.login import throttle
from keystead.login.passwords import Result, sign_in_with_password
from keystead.providers.oidc import (
    backchannel,
    client_auth,
    id_tokens,
    sign_in_methods,
    signing,
)
from keystead.providers.oidc.claims import CLAIMS, claims_for
from keystead.providers.oidc.grants import application_allows
from keystead.providers.oidc.models import (
    FamilySignIn,
    IssuedCode,
    settings_for,
    token_checksum,
)
from keystead.secret import Secret

RefreshToken = get_refresh_token_model()
# The scope DOT's introspection endpoint asks of a bearer token (``required_scopes``).
INTROSPECTION_SCOPE = "introspection"


def _revoke_replayed(code_checksum: str, request: HttpRequest | None) -> None:
    """A used authorization code presented again: revoke the refresh-token family and
    delete the access tokens its first exchange produced (RFC 6749 §4.1.2: the code
    may have been stolen, so whatever it bought is no longer trusted), audited as
    ``oidc.code_replayed`` (the application and counts; never the code)."""
    AccessToken = get_access_token_model()
    now = timezone.now()
    with transaction.atomic():
        issued = (IssuedCode.objects.select_for_update().select_related("application")
                  .filter(code_checksum=code_checksum).first())
        if issued is None:
            return
        first_replay = issued.replayed_at is None
        if first_replay:
            issued.replayed_at = now
            issued.save(update_fields=["replayed_at"])
        refreshed = 0
        gone = Q(token_checksum=issued.access_token_checksum) if issued.access_token_checksum \
            else Q(pk__in=[])
        if issued.token_family is not None:
            refreshed = RefreshToken.objects.filter(
                token_family=issued.token_family, revoked__isnull=True).update(revoked=now)
            gone |= (Q(source_refresh_token__token_family=issued.token_family)
                     | Q(refresh_token__token_family=issued.token_family))
        _, deleted = AccessToken.objects.filter(gone).delete()
        accessed = deleted.get(AccessToken._meta.label, 0)
        if first_replay or refreshed or accessed:
            audit.record("oidc.code_replayed", request=request, outcome=Outcome.DENIED,
                         target=issued.application,
                         actor_label=f"client {issued.application.client_id}",
                         detail={"client_id": issued.application.client_id,
                                 "refresh_tokens": refreshed, "access_tokens": accessed})


class Throttled(errors.CustomOAuth2Error):
    """429 for an address the sign-in throttle holds back (``login.throttle``), with the
    seconds to wait in ``Retry-After``, as the sign-in page answers."""

    def __init__(self, throttled: throttle.Throttled, request) -> None:
        super().__init__("temporarily_unavailable", description=throttled.message,
                         status_code=429, request=request)
        self.retry_after = throttled.retry_after

    @property
    def headers(self) -> dict:
        return {**super().headers, "Retry-After": str(self.retry_after)}


class KeysteadValidator(OAuth2Validator):
    # --------------------------------------------------------------------- the client

    def authenticate_client(self, request, *args, **kwargs) -> bool:
        """The client's id and secret (HTTP Basic or the body), checked by
        ``client_auth.authenticate``: the same function as Keystead's own grants.

        A refusal that is not ``invalid_client`` (two different client ids) is raised
        as its own error: oauthlib turns False into ``invalid_client``."""
        form = {"client_id": request.client_id or "",
                "client_secret": getattr(request, "client_secret", None)}
        try:
            request.client = client_auth.authenticate(
                request.headers.get("HTTP_AUTHORIZATION", ""), form)
        except client_auth.ConflictingClientIds as refused:
            raise errors.InvalidRequestError(description=refused.description,
                                             request=request) from None
        except client_auth.InvalidClient:
            return False
        return True

    def authenticate_client_id(self, client_id, request, *args, **kwargs) -> bool:
        """A client that sent no secret: only a public one passes (``client_auth``)."""
        try:
            request.client = client_auth.authenticate("", {"client_id": client_id or ""})
        except client_auth.InvalidClient:
            return False
        return True

    def validate_bearer_token(self, token, scopes, request) -> bool:
        """The toolkit's check (userinfo, introspection's caller, any protected resource),
        and the token's person must still be enabled: a disabled person's tokens are
        revoked when the account is disabled, and this holds even for one issued in
        the same instant."""
        if not super().validate_bearer_token(token, scopes, request):
            return False
        user = getattr(request, "user", None)
        return user is None or user.is_active

    # --------------------------------------------------------------------- claims

    def get_additional_claims(self):
        # Only their names are read: DOT lists them in the discovery document's
        # ``claims_supported`` (the request-agnostic form, without ``request``). The
        # values come from ``get_oidc_claims``.
        return dict.fromkeys(CLAIMS)

    def get_oidc_claims(self, token, token_handler, request):
        """ID-token and userinfo claims: ``claims.claims_for``, for every grant alike."""
        return claims_for(request.user, request.scopes, request.client)

    # --------------------------------------------------------------------- grants and scopes

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        """Keystead's allowed grants (``grants.grant_allowed``), not the toolkit's one type.

        A refused grant is ``unauthorized_client``.
        """
        if not application_allows(request.client, grant_type):
            return False
        # The toolkit's own RFC 9700 switch for the password grant still applies.
        return not (grant_type == "password" and bcp_compliant(
            "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT",
            "The OAuth 2.0 resource owner password credentials grant"))

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs):
        """``code`` needs the authorization-code grant among the application's allowed grants.

        Every other response type (the implicit ``token``/``id_token`` and the hybrid
        ones) is one Keystead does not offer at all (discovery lists only ``code``):
        ``unsupported_response_type`` (RFC 6749 §4.1.2.1), not ``unauthorized_client``,
        which would tell the application that registering differently could help.
        """
        if response_type == "code":
            return application_allows(client, "authorization_code")
        raise errors.UnsupportedResponseTypeError(
            description="Only response_type=code is offered (the authorization code flow).",
            request=request)

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        """The toolkit's check (every scope one Keystead offers), with an error that lists
        the scopes offered; a scope asked for twice is granted once."""
        if not super().validate_scopes(client_id, scopes, client, request, *args, **kwargs):
            raise errors.InvalidScopeError(
                description="Unknown scope; Keystead offers: "
                            f"{' '.join(oauth2_settings.SCOPES)}.", request=request)
        if INTROSPECTION_SCOPE in scopes:
            # A token allowed to introspect others' tokens belongs to an application
            # (the client-credentials grant, Keystead's own), never to a person.
            raise errors.InvalidScopeError(
                description="The introspection scope is only granted to an application "
                            "itself, through the client_credentials grant.", request=request)
        request.scopes = list(dict.fromkeys(scopes))
        return True

    def get_userinfo_claims(self, request):
        """Userinfo describes a person: a token that names none (the client-credentials
        grant's, which carries ``openid`` by default) is not one userinfo accepts, and is
        answered as such (RFC 6750 §3.1 ``invalid_token``, 401), not with a server error."""
        if getattr(request, "user", None) is None:
            raise errors.InvalidTokenError(
                description="The access token was issued to an application for itself and "
                            "names no person; userinfo needs a token a person signed in for.",
                request=request)
        return super().get_userinfo_claims(request)

    def validate_silent_login(self, request) -> bool:
        # prompt=none: the authorization view has already answered login_required
        # to anyone without a session (or whose sign-in is older than max_age).
        return True

    def validate_silent_authorization(self, request) -> bool:
        # prompt=none cannot show the consent page: only applications registered to
        # skip it get a code; the rest get consent_required.
        return bool(request.client and request.client.skip_authorization)

    # --------------------------------------------------------------------- the password grant

    def validate_user(self, username, password, client, request, *args, **kwargs) -> bool:
        """The password grant (only for clients allowed it) signs in like the portal.

        oauthlib checks the password before the grant type: the grant is checked here
        first, so a client that may not use it never gets a password checked (nor an
        account's lockout counter moved). The same function as the sign-in page, so
        lockout, disabled accounts, policy and audit apply; it gets the toolkit's
        Django request built from this one (``build_http_request``), so its audit
        Events carry the caller's address and user agent. A person who must change
        the password or give a second factor gets a clear error code, not a token:
        the password grant cannot ask.
        """
        if not self.validate_grant_type(request.client_id, "password", client, request):
            raise errors.UnauthorizedClientError(request=request)
        outcome = sign_in_with_password(username or "", Secret(password or ""),
                                        request=self.build_http_request(request), door="oidc")
        if outcome.throttled is not None:
            raise Throttled(outcome.throttled, request)
        if outcome.result is Result.FAILED:
            return False  # invalid_grant, the same for every reason (no enumeration)
        if outcome.result is Result.MUST_CHANGE:
            raise errors.CustomOAuth2Error(
                "password_change_required", status_code=400, request=request,
                description="The password must be changed: sign in on the web page first.")
        if outcome.second_factor:
            raise errors.CustomOAuth2Error(
                "second_factor_required", status_code=400, request=request,
                description="This account needs a second factor; use the authorization "
                            "code flow, which can ask for it.")
        request.user = outcome.user
        # This sign-in is the family's: its refreshed ID tokens carry it as auth_time,
        # and it was a password alone (a second factor was refused above).
        request.keystead_auth_time = timezone.now()
        request.keystead_amr = " ".join(sign_in_methods.PASSWORD_ONLY)
        return True

    # --------------------------------------------------------------------- authorization codes

    def save_authorization_code(self, client_id, code, request, *args, **kwargs):
        """The toolkit's ``Grant``, plus ``IssuedCode``: the sign-in time and methods of
        the browser session that asked (the authorization view passes them as
        credentials), which the exchange's ID token carries as ``auth_time``, ``amr``
        and ``acr``."""
        super().save_authorization_code(client_id, code, request, *args, **kwargs)
        IssuedCode.objects.create(code_checksum=token_checksum(code["code"]),
                                  application=request.client,
                                  auth_time=getattr(request, "keystead_auth_time", None),
                                  amr=getattr(request, "keystead_amr", "") or "",
                                  sid=getattr(request, "keystead_sid", "") or "")

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        """The toolkit's check, one exchange per code, and the code's session sign-in
        time and methods for ``auth_time``, ``amr`` and ``acr``.

        The code is claimed with one conditional UPDATE (``exchanged_at``), so of two
        concurrent exchanges only one passes. A code presented again after that is a
        replay (RFC 6749 §4.1.2): the tokens its first exchange produced are revoked
        (``_revoke_replayed``) and the answer is ``invalid_grant``, as for any used code.
        """
        checksum = token_checksum(code)
        issued = IssuedCode.objects.filter(code_checksum=checksum, application=client)
        known = issued.values("exchanged_at", "auth_time", "amr", "sid").first()
        if known is not None and known["exchanged_at"] is not None:
            _revoke_replayed(checksum, self.build_http_request(request))
            return False
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            return False
        claimed = issued.filter(exchanged_at__isnull=True).update(exchanged_at=timezone.now())
        if not claimed and known is not None:  # exchanged concurrently, a moment ago
            _revoke_replayed(checksum, self.build_http_request(request))
            return False
        if known is not None and known["auth_time"] is not None:
            request.keystead_auth_time = known["auth_time"]
        request.keystead_amr = known["amr"] if known is not None else ""
        request.keystead_sid = known["sid"] if known is not None else ""
        request.keystead_code_checksum = checksum
        return True

    # --------------------------------------------------------------------- refresh tokens

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs) -> bool:
        """Never through the toolkit: the token view hands every refresh to
        ``refresh_grant``. Refused here so a path that reached the toolkit's refresh
        handling anyway could not rotate a token without Keystead's rules."""
        return False

    # --------------------------------------------------------------------- storing tokens

    def _save_bearer_token(self, token, request, *args, **kwargs):
        """The application's own token settings, then the toolkit's storing (in the toolkit's
        transaction; this is the method the toolkit names for custom storing logic).

        ``token`` is also the response body, so what is stored is what is sent. A new
        family's sign-in time and granted scope are kept (``FamilySignIn``, read by
        ``refresh_grant``): the time for the ID tokens its refreshes bring, the scope as
        the bound of what its refreshes may ask for and what they get without ``scope``,
        and how the person signed in, for those ID tokens' ``amr`` and ``acr``.
        Every family starts here (the authorization code and password grants; with or
        without ``openid``); the refresh grant only continues one.
        """
        client_settings = settings_for(request.client)
        if not client_settings.issue_refresh_tokens:
            token.pop("refresh_token", None)
        if client_settings.access_token_seconds:
            token["expires_in"] = client_settings.access_token_seconds
        super()._save_bearer_token(token, request, *args, **kwargs)
        family = None
        if token.get("refresh_token"):
            family = (RefreshToken.objects
                      .filter(token_checksum=token_checksum(token["refresh_token"]))
                      .values_list("token_family", flat=True).first())
        if family is not None:
            # token["scope"] is what the family's first access token was stored with.
            FamilySignIn.objects.create(
                token_family=family, granted_scope=token["scope"],
                auth_time=getattr(request, "keystead_auth_time", None),
                amr=getattr(request, "keystead_amr", "") or "",
                sid=getattr(request, "keystead_sid", "") or "")
        sid = getattr(request, "keystead_sid", "")
        if (sid and "openid" in str(token.get("scope") or "").split()
                and settings_for(request.client).backchannel_logout_uri):
            # An ID token from a browser session's code, to an application that wants to
            # hear of the session's end (back-channel logout), under the issuer its ID
            # token named. Others get no row: nothing would ever be sent to them.
            backchannel.note_session_application(sid, request.user, request.client,
                                                 oauth2_settings.oidc_issuer(request))
        code_checksum = getattr(request, "keystead_code_checksum", None)
        if code_checksum is not None:
            # What this code produced, so a replay of it can revoke exactly that.
            IssuedCode.objects.filter(code_checksum=code_checksum).update(
                access_token_checksum=token_checksum(token["access_token"]), token_family=family)
            if IssuedCode.objects.filter(code_checksum=code_checksum,
                                         replayed_at__isnull=False).exists():
                # Replayed while these tokens were being stored: revoke them too.
                transaction.on_commit(lambda: _revoke_replayed(code_checksum, None))

    # --------------------------------------------------------------------- ID tokens

    def get_id_token_dictionary(self, token, token_handler, request):
        """DOT's, except ``auth_time``: for the password grant that sign-in itself, for
        the authorization code the sign-in of the browser session that asked for the
        code (``IssuedCode``). DOT's is the person's latest sign-in anywhere, which an
        old session would borrow from a newer one on another device. Plus ``amr`` and
        ``acr``: how that same sign-in was made (``sign_in_methods``), when known; and
        ``sid``, the browser session's identifier (Back-Channel Logout §2.1), for a code."""
        claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        claims.update(sign_in_methods.claims(getattr(request, "keystead_amr", "")))
        if getattr(request, "keystead_sid", ""):
            claims["sid"] = request.keystead_sid  # the browser session's (``backchannel``)
        if getattr(request, "keystead_auth_time", None) is not None:
            claims["auth_time"] = int(request.keystead_auth_time.timestamp())
        # What the family's refreshed ID tokens will carry (``_save_bearer_token``).
        request.keystead_auth_time = datetime.fromtimestamp(claims["auth_time"], UTC)
        return claims, expiration_time

    def finalize_id_token(self, id_token, token, token_handler, request):
        """DOT's, except for the key.

        ES256 applications are signed with the EC key, RS256 ones with the RSA key
        parsed once per process (DOT parses it on every token), both with
        ``cryptography`` (``id_tokens.sign``), as the refresh grant's ID tokens are.
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
        # One INSERT, atomic by itself: the toolkit wraps it in a transaction of its own.
        stored = self._save_id_token(id_token["jti"], request, expiration_time)
        request.access_token = stored
        request.id_token = stored
        return signed

    def _get_key_for_token(self, token):
        """The keys to verify one of our ID tokens (``id_token_hint``; the toolkit reading
        back the ID token it is storing, and at RP-initiated logout).

        DOT tries only the current key of the application named in ``aud`` (one query);
        Keystead tries every key it publishes in the JWKS, current and retired, RS256 and
        ES256, so a sign-out right after a key rotation still recognises the ID token
        the application holds. Which application and person a token names is then read
        from the toolkit's record of it (by ``jti``), or compared by the caller.
        """
        algorithm = jws.JWS()
        algorithm.deserialize(token)
        name = algorithm.jose_header.get("alg")
        if name == "ES256":
            return signing.verification_keys()
        if name == "RS256":
            return signing.rsa_verification_keys()
        return super()._get_key_for_token(token)

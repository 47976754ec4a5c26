"""Keystead's token and authorization endpoints: DOT's, plus audit Events and ``max_age``."""

from __future__ import annotations

import json
from datetime import timedelta

from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils import timezone
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.views import (
    AuthorizationView,
    ConnectDiscoveryInfoView,
    JwksInfoView,
    TokenView,
)

from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.providers.oidc import refresh_grant, signing

# oauthlib answers invalid_request when the redirect_uri sent to the token endpoint
# differs from the one the code was issued for; RFC 6749 §5.2 names invalid_grant.
_MISMATCHED_REDIRECT = "Mismatching redirect URI."


class KeysteadTokenView(TokenView):
    """DOT's token endpoint, except refresh grants (``refresh_grant``), plus audit Events."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.POST.get("grant_type") == refresh_grant.GRANT_TYPE:
            return refresh_grant.respond(request)
        response = super().post(request, *args, **kwargs)
        if response.status_code < 400:
            return response  # issued tokens are audited by the app_authorized receiver
        try:
            body = json.loads(response.content)
        except ValueError:
            body = {}
        if (body.get("error") == "invalid_request"
                and body.get("error_description") == _MISMATCHED_REDIRECT):
            body["error"] = "invalid_grant"
            response.content = json.dumps(body).encode()
        # Only names and codes: never the code, token, verifier or secret sent.
        audit.record(
            "oidc.token_refused", request=request, outcome=Outcome.DENIED,
            actor_label=f"client {request.POST.get('client_id', '') or 'unauthenticated'}"[:255],
            detail={"grant_type": request.POST.get("grant_type", "")[:64],
                    "error": body.get("error", ""),
                    "error_description": body.get("error_description", "")[:200]},
        )
        return response


class KeysteadAuthorizationView(AuthorizationView):
    """DOT's authorization endpoint, plus ``max_age`` and an audit Event for every refusal.

    ``max_age`` (OpenID Connect Core §3.1.2.1): DOT accepts the parameter but does
    nothing with it. When the session's sign-in (``last_login``, which is also the
    ID token's ``auth_time``) is older than ``max_age`` seconds, the person is signed
    out and sent to the sign-in page; ``max_age`` is left out of the address they
    come back to, so ``max_age=0`` does not loop. With ``prompt=none`` the answer
    is the ``login_required`` error instead.

    ``id_token_hint`` (§3.1.2.1): when it names someone other than the person
    signed in, the same happens (``login_required`` with ``prompt=none``). A hint
    Keystead cannot verify is ignored; an expired one still counts.

    ``login_hint`` travels to the sign-in page inside ``next``; the sign-in page
    fills in the email field from it.
    """

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated:
            reason = ("max_age" if self._session_too_old(request)
                      else "id_token_hint" if self._hint_names_someone_else(request) else None)
            if reason:
                return self._sign_in_again(request, reason, *args, **kwargs)
        return super().get(request, *args, **kwargs)

    def _sign_in_again(self, request: HttpRequest, reason: str, *args, **kwargs) -> HttpResponse:
        try:
            self.validate_authorization_request(request)
        except OAuthToolkitError:
            return super().get(request, *args, **kwargs)  # reports the error as usual
        if "none" in request.GET.get("prompt", "").split():
            return self.handle_no_permission()  # login_required to the client
        audit.record("oidc.reauthentication_required", request=request,
                     detail={"client_id": request.GET.get("client_id", "")[:100],
                             "reason": reason,
                             "max_age": request.GET.get("max_age", "")[:20]})
        logout(request)
        query = request.GET.copy()
        query.pop(reason, None)  # satisfied by signing in; keeps max_age=0 from looping
        return redirect_to_login(f"{request.path}?{query.urlencode()}",
                                 resolve_url(self.get_login_url()),
                                 self.get_redirect_field_name())

    @staticmethod
    def _hint_names_someone_else(request: HttpRequest) -> bool:
        hint = request.GET.get("id_token_hint")
        if not hint:
            return False
        from jwcrypto.common import JWException
        from jwcrypto.jwt import JWT
        from oauth2_provider.settings import oauth2_settings

        try:
            key = oauth2_settings.OAUTH2_VALIDATOR_CLASS()._get_key_for_token(hint)
            if key is None:
                return False
            claims = json.loads(JWT(key=key, jwt=hint, check_claims={}).claims)
        except (JWException, ValueError, TypeError, KeyError):
            return False  # not one of ours: only a hint, ignored
        return str(claims.get("sub")) != str(request.user.pk)

    @staticmethod
    def _session_too_old(request: HttpRequest) -> bool:
        raw = request.GET.get("max_age")
        if raw is None:
            return False
        try:
            max_age = int(raw)
        except ValueError:
            return False  # oauthlib's own validation answers malformed values
        if max_age < 0:
            return False
        signed_in = request.user.last_login
        return signed_in is None or timezone.now() - signed_in > timedelta(seconds=max_age)

    def error_response(self, error, application, **kwargs):
        # Only names and codes: never a code, token, verifier or challenge.
        oauthlib_error = getattr(error, "oauthlib_error", error)
        audit.record(
            "oidc.authorize_refused", request=self.request, outcome=Outcome.DENIED,
            detail={"client_id": self.request.GET.get("client_id",
                                                      self.request.POST.get("client_id", ""))[:100],
                    "error": getattr(oauthlib_error, "error", "")[:64],
                    "error_description": (getattr(oauthlib_error, "description", "")
                                          or "")[:200]},
        )
        return super().error_response(error, application, **kwargs)


class KeysteadDiscoveryView(ConnectDiscoveryInfoView):
    """DOT's discovery document with the signing algorithms Keystead actually offers.

    DOT advertises HS256 as well, but HS256 signs with the client secret, which
    Keystead stores hashed: DOT refuses an HS256 application with a hashed
    secret, so HS256 cannot work here and is not advertised. ES256 is added.
    """

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        document = json.loads(response.content)
        document["id_token_signing_alg_values_supported"] = ["RS256", "ES256"]
        response.content = json.dumps(document).encode()
        return response


class KeysteadJwksView(JwksInfoView):
    """DOT's JWKS (current and retired RS256 keys) plus the ES256 keys."""

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        document = json.loads(response.content)
        document["keys"].extend(signing.published_keys())
        response.content = json.dumps(document).encode()
        return response

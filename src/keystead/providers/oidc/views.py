"""Keystead's token and authorization endpoints: DOT's, plus audit Events and ``max_age``."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.exceptions import ClientIdMissmatch, InvalidIDTokenError, OAuthToolkitError
from oauth2_provider.models import get_application_model
from oauth2_provider.views import (
    AuthorizationView,
    ConnectDiscoveryInfoView,
    JwksInfoView,
    RPInitiatedLogoutView,
    TokenView,
)
from oauthlib.oauth2.rfc6749.errors import InvalidRequestError

from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.providers.oidc import client_credentials_grant, id_token_hints, refresh_grant, signing

# oauthlib answers invalid_request when the redirect_uri sent to the token endpoint
# differs from the one the code was issued for; RFC 6749 §5.2 names invalid_grant.
_MISMATCHED_REDIRECT = "Mismatching redirect URI."


class KeysteadTokenView(TokenView):
    """DOT's token endpoint, plus audit Events, except for the two grants applications use
    most, which Keystead answers itself: refreshes (``refresh_grant``) and client
    credentials (``client_credentials_grant``)."""

    # Keystead's own handlers run before the toolkit's view marks the secrets in the body
    # as sensitive: an error report must not show them either.
    @method_decorator(sensitive_post_parameters("client_secret", "refresh_token", "password",
                                                "code", "code_verifier"))
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        grant_type = request.POST.get("grant_type")
        if grant_type == refresh_grant.GRANT_TYPE:
            return refresh_grant.respond(request)
        if grant_type == client_credentials_grant.GRANT_TYPE:
            return client_credentials_grant.respond(request)
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


# prompt values that send a signed-in person through the sign-in page again. Keystead
# holds one account per browser session, so choosing an account is signing in again.
_SIGN_IN_PROMPTS = frozenset({"login", "select_account"})


def _prompts(request: HttpRequest) -> set[str]:
    """The ``prompt`` values (space-separated, case-sensitive; OpenID Connect Core §3.1.2.1)."""
    return set(request.GET.get("prompt", "").split())


class _ShowConsentPage(Exception):
    """``prompt=consent``: the page must be shown where the toolkit would approve silently."""


class KeysteadAuthorizationView(AuthorizationView):
    """DOT's authorization endpoint, plus ``prompt``, ``max_age`` and an audit Event for
    every refusal.

    ``prompt`` (OpenID Connect Core §3.1.2.1):

    - ``none`` together with any other value is ``invalid_request`` (sent to the
      registered redirect URI, with ``state``), whatever the scopes.
    - ``login`` and ``select_account``: a signed-in person is signed out and sent to
      the sign-in page (Keystead's sign-in page passes a signed-in person straight on,
      so DOT's own handling would not ask again). Keystead has one account per browser
      session, so choosing an account means signing in as the one wanted. The values
      are left out of the address the person comes back to, so they do not loop;
      ``consent`` stays.
    - ``consent``: the consent page is shown even to an application registered to
      skip it and for scopes approved before.

    ``max_age`` (§3.1.2.1): DOT accepts the parameter but does nothing with it. When
    the session's sign-in (``last_login``, which is also the ID token's ``auth_time``)
    is older than ``max_age`` seconds, the person is signed out and sent to the
    sign-in page; ``max_age`` is left out of the address they come back to, so
    ``max_age=0`` does not loop. With ``prompt=none`` the answer is the
    ``login_required`` error instead.

    ``id_token_hint`` (§3.1.2.1): when it names someone other than the person
    signed in, the same happens (``login_required`` with ``prompt=none``). A hint
    Keystead cannot verify is ignored; an expired one still counts.

    ``login_hint`` travels to the sign-in page inside ``next``; the sign-in page
    fills in the email field from it.
    """

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        prompt = _prompts(request)
        if request.method == "GET" and "none" in prompt and len(prompt) > 1:
            return self._prompt_none_with_others(request)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        prompt = _prompts(request)
        if request.user.is_authenticated:
            asked = sorted(prompt & _SIGN_IN_PROMPTS)
            reason = (f"prompt={asked[0]}" if asked
                      else "max_age" if self._session_too_old(request)
                      else "id_token_hint" if self._hint_names_someone_else(request) else None)
            if reason:
                return self._sign_in_again(request, reason, *args, **kwargs)
        self._consent_required = "consent" in prompt
        try:
            return super().get(request, *args, **kwargs)
        except _ShowConsentPage:
            return self.render_to_response(self.get_context_data(**self.oauth2_data))

    def create_authorization_response(self, request, scopes, credentials, allow):
        # DOT approves here without a page for skip_authorization applications and for
        # scopes approved before; prompt=consent asks instead. The page's answer comes
        # back as a POST and is processed as usual.
        if request.method == "GET" and getattr(self, "_consent_required", False):
            raise _ShowConsentPage
        return super().create_authorization_response(request=request, scopes=scopes,
                                                     credentials=credentials, allow=allow)

    def form_valid(self, form) -> HttpResponse:
        """The consent page's answer, audited: which application, which scopes, given or
        refused (the toolkit's answer to the application is unchanged)."""
        response = super().form_valid(form)
        # The answer went back to the application; an error there (a scope or PKCE
        # problem) is not a consent given.
        sent_back = response.status_code in (301, 302, 303)
        given = bool(form.cleaned_data.get("allow"))
        if sent_back and not (given and "error" in parse_qs(
                urlsplit(response.get("Location", "")).query)):
            audit.record("oidc.consent", request=self.request, target=self.request.user,
                         outcome=Outcome.SUCCESS if given else Outcome.DENIED,
                         detail={"client_id": form.cleaned_data.get("client_id", "")[:100],
                                 "scope": (form.cleaned_data.get("scope") or "")[:500]})
        return response

    def handle_no_permission(self) -> HttpResponse:
        """Not signed in. ``prompt=login``/``select_account`` need only the sign-in page;
        unlike DOT, any ``consent`` is kept for after it."""
        if _prompts(self.request) & _SIGN_IN_PROMPTS and "none" not in _prompts(self.request):
            return self._to_sign_in(self.request, drop="prompt")
        return super().handle_no_permission()

    def _prompt_none_with_others(self, request: HttpRequest) -> HttpResponse:
        """§3.1.2.1: "If this parameter contains none with any other value, an error is
        returned." (oauthlib checks it only for ``openid`` requests.)"""
        try:
            _, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        error = InvalidRequestError(
            description="prompt=none cannot be combined with other prompt values.",
            state=credentials.get("state"))
        error.redirect_uri = credentials["redirect_uri"]
        application = get_application_model().objects.get(client_id=credentials["client_id"])
        return self.error_response(OAuthToolkitError(error=error), application)

    def _sign_in_again(self, request: HttpRequest, reason: str, *args, **kwargs) -> HttpResponse:
        try:
            self.validate_authorization_request(request)
        except OAuthToolkitError:
            return super().get(request, *args, **kwargs)  # reports the error as usual
        if "none" in _prompts(request):
            return self.handle_no_permission()  # login_required to the client
        audit.record("oidc.reauthentication_required", request=request,
                     detail={"client_id": request.GET.get("client_id", "")[:100],
                             "reason": reason,
                             "max_age": request.GET.get("max_age", "")[:20]})
        logout(request)
        return self._to_sign_in(request, drop=reason.partition("=")[0])

    def _to_sign_in(self, request: HttpRequest, drop: str) -> HttpResponse:
        """The sign-in page, then back here without what signing in satisfies (so
        ``max_age=0`` or ``prompt=login`` does not loop)."""
        query = request.GET.copy()
        if drop == "prompt":
            kept = [p for p in request.GET.get("prompt", "").split()
                    if p not in _SIGN_IN_PROMPTS]
            query.pop("prompt", None)
            if kept:
                query["prompt"] = " ".join(kept)
        else:
            query.pop(drop, None)
        return redirect_to_login(f"{request.path}?{query.urlencode()}",
                                 resolve_url(self.get_login_url()),
                                 self.get_redirect_field_name())

    @staticmethod
    def _hint_names_someone_else(request: HttpRequest) -> bool:
        hint = request.GET.get("id_token_hint")
        if not hint:
            return False
        claims = id_token_hints.verified_claims(hint, request, accept_expired=True)
        # Not one of ours: only a hint, ignored.
        return claims is not None and str(claims.get("sub")) != str(request.user.pk)

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
    secret, so HS256 cannot work here and is not advertised. ES256 is added, and
    the ``prompt`` values and grant types Keystead handles.
    """

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        document = json.loads(response.content)
        document["id_token_signing_alg_values_supported"] = ["RS256", "ES256"]
        document["prompt_values_supported"] = ["none", "login", "consent", "select_account"]
        # Each application allows some of these (grants.py); no implicit flow.
        document["grant_types_supported"] = ["authorization_code", "refresh_token",
                                             "client_credentials", "password"]
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


class KeysteadLogoutView(RPInitiatedLogoutView):
    """DOT's RP-initiated logout, recognising the ``id_token_hint`` by its signature
    (``id_token_hints``) instead of by a stored row: refreshed ID tokens have none."""

    def validate_logout_request_user(self, id_token_hint, client_id):
        if not id_token_hint:
            return None
        hint = id_token_hints.verified_hint(id_token_hint, self.request)
        if hint is None:
            raise InvalidIDTokenError()
        if client_id and hint.application.client_id != client_id:
            raise ClientIdMissmatch()
        return hint

"""Keystead's token and authorization endpoints: the token endpoint with Keystead's own
refresh and client-credentials grants beside DOT's others, DOT's authorization endpoint
plus ``prompt`` and ``max_age``, audit Events for both; discovery and JWKS with what
Keystead offers."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from oauth2_provider.exceptions import InvalidOIDCClientError, OAuthToolkitError
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
)
from oauth2_provider.views import (
    AuthorizationView,
    ConnectDiscoveryInfoView,
    IntrospectTokenView,
    JwksInfoView,
    RevokeTokenView,
    RPInitiatedLogoutView,
    TokenView,
    UserInfoView,
)
from oauthlib.oauth2.rfc6749.errors import InvalidRequestError
from oauthlib.openid.connect.core.exceptions import RequestNotSupported, RequestURINotSupported

from keystead.columns import too_long_for
from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.login.models import SignedInSession
from keystead.providers.oidc import (
    authorization_post,
    backchannel,
    client_auth,
    client_credentials_grant,
    id_token_hints,
    refresh_grant,
    sign_in_methods,
    signing,
    token_answers,
)
from keystead.providers.oidc.claims import subject_for
from keystead.providers.oidc.models import token_checksum

# oauthlib answers invalid_request when the redirect_uri sent to the token endpoint
# differs from the one the code was issued for; RFC 6749 §5.2 names invalid_grant.
_MISMATCHED_REDIRECT = "Mismatching redirect URI."
_SECRET_PARAMETERS = ("client_secret", "refresh_token", "password", "code", "code_verifier")


def session_signed_in_at(request: HttpRequest):
    """When this browser session signed in (``SignedInSession``), or None if unknown.

    The person's ``last_login`` is the latest sign-in anywhere: a session signed in
    a week ago would pass ``max_age`` because its owner signed in on a phone a
    minute ago. Unknown (a session from before the table existed) counts as too old.
    """
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key is None:
        return None
    return (SignedInSession.objects.filter(session_id=key, user_id=request.user.pk)
            .values_list("signed_in_at", flat=True).first())


# Parameters that carry a token or a secret. RFC 6750 §2.3 lets a server refuse an
# access token in the query string; any of these there would be written to access logs,
# proxy logs and browser history, so every endpoint refuses them outright.
_SECRETS_IN_QUERY = frozenset({"access_token", "refresh_token", "token", "id_token",
                               "client_secret", "password", "code_verifier"})
_SEND_ELSEWHERE = ("send an access token in the Authorization header (Bearer) and other "
                   "values in the POST body.")
# An authorization request sent by POST goes on as a GET (``authorization_post``).
_NOT_IN_AUTHORIZATION = ("an authorization request sent by POST continues as a GET, so "
                         "its parameters end up in the address too; tokens and secrets "
                         "never belong in an authorization request.")


def _printable(name: str) -> str:
    """A parameter name as it can be stored in an audit Event (PostgreSQL text takes no NUL)."""
    return name.replace("\x00", "\\0")[:64]


def _has_nul(request: HttpRequest) -> list[str]:
    """The names of the parameters (query, body, HTTP Basic credentials) holding a NUL."""
    named = [name for data in (request.GET, request.POST)
             for name, values in data.lists()
             if "\x00" in name or any("\x00" in value for value in values)]
    scheme = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")[0]
    if scheme.lower() == "basic":
        credentials = client_auth.credentials_from(request.META["HTTP_AUTHORIZATION"], {})
        if credentials is not None and "\x00" in credentials.client_id + (
                credentials.secret or ""):
            named.append("Authorization")
    return named


class RefuseSecretsInQuery:
    """Mixin for every provider endpoint: what must never reach the toolkit is refused
    first, with 400 ``invalid_request`` and an audit Event naming the parameters (never
    their values).

    - A token or secret in the address (RFC 6750 §2.3 allows refusing it there).
    - A NUL character in any parameter or in the HTTP Basic credentials: PostgreSQL
      text cannot hold one, so the first query with it (client lookup, user lookup,
      logout's application) raised a 500 with a traceback. No valid client id,
      username, code or token contains one, so it is refused at the door, for every
      grant and endpoint alike, before any lookup.
    """

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return (self.refusal(request, request.GET, _SEND_ELSEWHERE)
                or super().dispatch(request, *args, **kwargs))

    def refusal(self, request: HttpRequest, address, advice: str) -> HttpResponse | None:
        """The refusal of a request whose ``address`` (the parameters that are, or will
        be, in its address) holds a token or secret, ``advice`` saying where to send
        them instead; or of one holding a NUL anywhere. None if neither."""
        named = sorted(_SECRETS_IN_QUERY.intersection(address))
        if named:
            return self._refuse(request, named, (
                f"{', '.join(named)} must not be sent in the address (query string), "
                f"which is written to access logs: {advice}"))
        named = _has_nul(request)
        if named:
            names = sorted({_printable(name) for name in named})
            return self._refuse(request, names, (
                f"{', '.join(names)} contains a NUL character, which no valid value "
                "has; send the value as registered."))
        return None

    @staticmethod
    def _refuse(request: HttpRequest, names: list[str], description: str) -> HttpResponse:
        audit.record("oidc.request_refused", request=request, outcome=Outcome.DENIED,
                     detail={"endpoint": request.path[:100], "error": "invalid_request",
                             "parameters": names})
        return token_answers.no_store(JsonResponse(
            {"error": "invalid_request", "error_description": description}, status=400))


# The toolkit marks its endpoints' ``dispatch`` csrf-exempt (they are called by
# applications, not browsers) and reachable without a session; ``RefuseSecretsInQuery``
# overrides ``dispatch``, so the subclasses carry the same marks again.
_API_ENDPOINT = (method_decorator(csrf_exempt, name="dispatch"),
                 method_decorator(login_not_required, name="dispatch"))


def _api_endpoint(view_class):
    for decorate in _API_ENDPOINT:
        view_class = decorate(view_class)
    return view_class


@_api_endpoint
class KeysteadTokenView(RefuseSecretsInQuery, TokenView):
    """The token endpoint: Keystead's own refresh and client-credentials grants, the
    toolkit's for the rest (authorization code, password), one refusal audit for all.

    ``refresh_token`` and ``client_credentials`` are answered by ``refresh_grant`` and
    ``client_credentials_grant`` (the endpoint's steady traffic, on a short ORM path;
    see docs/oidc.md); every other grant type goes to the toolkit, whose issued tokens
    are audited by the ``app_authorized`` receiver (``signals``). Every refusal is
    recorded once, as ``oidc.token_refused`` (``token_answers.record_refusal``), with
    only names and codes. All grants authenticate the client with ``client_auth``.
    """

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        repeated = sorted(_printable(name) for name, values in request.POST.lists()
                          if len(values) > 1)
        if repeated:
            # RFC 6749 §3.2: "Request and response parameters MUST NOT be included more
            # than once." Django's ``POST.get`` would take the last value (a second
            # grant_type choosing another grant, a second refresh_token another token).
            return token_answers.refuse(
                request, "invalid_request",
                f"{', '.join(repeated)} sent more than once; send each parameter once.")
        own = _OWN_GRANTS.get(request.POST.get("grant_type", ""))
        try:
            if own is not None:
                return own(request)
            response = super().post(request, *args, **kwargs)
        finally:
            # Every secret the body can hold is hidden from Django's error reports. DOT
            # marks only the password and the client secret, inside its call; this runs
            # before an exception reaches the report.
            request.sensitive_post_parameters = _SECRET_PARAMETERS
        if response.status_code < 400:
            return response
        body = _json_body(response)
        if (body.get("error") == "invalid_request"
                and body.get("error_description") == _MISMATCHED_REDIRECT):
            body["error"] = "invalid_grant"
            response.content = json.dumps(body).encode()
        token_answers.name_basic_challenge(request, response)
        token_answers.record_refusal(request, error=body.get("error", ""),
                                     description=body.get("error_description", ""))
        return response


_OWN_GRANTS = {refresh_grant.GRANT_TYPE: refresh_grant.respond,
               client_credentials_grant.GRANT_TYPE: client_credentials_grant.respond}


def _json_body(response: HttpResponse) -> dict:
    """A toolkit answer's JSON body (its error and description), or {} if it has none."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# Authorization addresses (their SHA-256) a signed-in person was sent to sign in again
# for, with when: kept in the session, a handful at most.
_REAUTHENTICATION_KEY = "keystead_oidc_reauthentication"
_REAUTHENTICATION_KEPT = 10


def _address_digest(path: str, query) -> str:
    """The authorization request, whatever the encoding or order of its parameters."""
    pairs = sorted((name, value) for name, values in query.lists() for value in values)
    return hashlib.sha256(json.dumps([path, pairs]).encode()).hexdigest()


def _remember_reauthentication(request: HttpRequest, query) -> None:
    """This session must sign in again before the request (as it comes back, ``query``)
    is answered (a session value:
    it survives the new sign-in's new session key, and a different person signing in
    starts a new session without it, which is a new sign-in anyway)."""
    pending = dict(request.session.get(_REAUTHENTICATION_KEY, {}))
    pending[_address_digest(request.path, query)] = timezone.now().isoformat()
    request.session[_REAUTHENTICATION_KEY] = dict(list(pending.items())[-_REAUTHENTICATION_KEPT:])


def _reauthentication_done(request: HttpRequest) -> bool:
    """False if this address waits for a sign-in newer than when it was asked for."""
    pending = request.session.get(_REAUTHENTICATION_KEY) or {}
    digest = _address_digest(request.path, request.GET)
    asked = pending.get(digest)
    if asked is None:
        return True
    signed_in = session_signed_in_at(request)
    if signed_in is None or signed_in <= datetime.fromisoformat(asked):
        return False
    request.session[_REAUTHENTICATION_KEY] = {k: v for k, v in pending.items() if k != digest}
    return True


# prompt values that send a signed-in person through the sign-in page again. Keystead
# holds one account per browser session, so choosing an account is signing in again.
_SIGN_IN_PROMPTS = frozenset({"login", "select_account"})


def _prompts(request: HttpRequest) -> set[str]:
    """The ``prompt`` values (space-separated, case-sensitive; OpenID Connect Core §3.1.2.1)."""
    return set(request.GET.get("prompt", "").split())


# Request objects (OpenID Connect Core §6): not supported, and answered so.
_REQUEST_OBJECTS = {"request": RequestNotSupported, "request_uri": RequestURINotSupported}


def _malformed_challenge(raw: str | None) -> bool:
    """Whether a ``code_challenge`` was sent that is not an S256 challenge."""
    return bool(raw) and re.fullmatch(r"[A-Za-z0-9_-]{43}", raw) is None


def _malformed_max_age(raw: str | None) -> bool:
    """Whether a ``max_age`` was sent that is not a non-negative whole number (one sent
    without a value counts as not sent, RFC 6749 §3.1)."""
    if not raw:
        return False
    return not (raw.isascii() and raw.isdigit())


class _ShowConsentPage(Exception):
    """``prompt=consent``: the page must be shown where the toolkit would approve silently."""


def _longer_than_stored(request: HttpRequest) -> str:
    """What is wrong if the request's ``nonce`` or ``code_challenge`` is longer than the
    toolkit's authorization-code row holds (a PKCE challenge is at most 128 characters
    by RFC 7636 anyway), else ""."""
    grant = get_grant_model()
    for name in ("nonce", "code_challenge"):
        value = request.GET.get(name) or request.POST.get(name) or ""
        if limit := too_long_for(grant, name, value):
            return f"{name} is {len(value)} characters long; at most {limit} are accepted."
    return ""


@method_decorator(csrf_exempt, name="dispatch")  # the consent answer is checked in ``post``
class KeysteadAuthorizationView(RefuseSecretsInQuery, AuthorizationView):
    """DOT's authorization endpoint, plus POST, ``prompt``, ``max_age`` and an audit
    Event for every refusal.

    POST (OpenID Connect Core §3.1.2.1): an authorization request sent by POST is
    answered with ``303`` to the same request as a GET (``authorization_post``), before
    anything else; the consent page's answer, the other POST this address takes, is
    told apart by its marker field (or its ``allow`` button) and is CSRF-checked in
    ``post``. The endpoint itself is CSRF-exempt because an application's form post is
    cross-site by design.

    ``prompt`` (OpenID Connect Core §3.1.2.1):

    - ``none`` together with any other value is ``invalid_request`` (sent to the
      registered redirect URI, with ``state``), whatever the scopes.
    - ``login`` and ``select_account``: a signed-in person is sent to the sign-in
      page with ``prompt=login`` in its address, which makes it ask even a signed-in
      browser (it otherwise passes one straight on, so DOT's own handling would not
      ask again). The session is not ended: a link from any site could otherwise
      sign people out; it stays until the new sign-in replaces it, and the
      authorization request is answered only after that new sign-in. Keystead has
      one account per browser session, so choosing an account means signing in as
      the one wanted. The values
      are left out of the address the person comes back to, so they do not loop;
      ``consent`` stays.
    - ``consent``: the consent page is shown even to an application registered to
      skip it and for scopes approved before.

    ``max_age`` (§3.1.2.1): DOT accepts the parameter but does nothing with it. When
    this browser session's own sign-in (``SignedInSession.signed_in_at``, which is
    also the ID token's ``auth_time``; not the person's ``last_login``, which moves
    when they sign in on another device) is older than ``max_age`` seconds, the
    person is sent to the sign-in page the same way; ``max_age`` is left out of the
    address they come back to, so ``max_age=0`` does not loop. With ``prompt=none``
    the answer is the ``login_required`` error instead.

    ``id_token_hint`` (§3.1.2.1): when it names someone other than the person
    signed in, the same happens (``login_required`` with ``prompt=none``). A hint
    Keystead cannot verify is ignored; an expired one still counts.

    ``login_hint`` travels to the sign-in page inside ``next``; the sign-in page
    fills in the email field from it.
    """

    form_class = authorization_post.ConsentForm

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "POST" and not authorization_post.is_consent_answer(request):
            return self._authorization_by_post(request)
        prompt = _prompts(request)
        too_long = _longer_than_stored(request)
        if too_long and request.method != "GET":  # the consent page's own hidden fields
            return HttpResponseBadRequest(too_long, content_type="text/plain")
        if too_long:
            return self._invalid_request(request, too_long)
        if request.method == "GET" and "none" in prompt and len(prompt) > 1:
            # §3.1.2.1: "If this parameter contains none with any other value, an error
            # is returned." (oauthlib checks it only for ``openid`` requests.)
            return self._invalid_request(
                request, "prompt=none cannot be combined with other prompt values.")
        if request.method == "GET":
            for name, unsupported in _REQUEST_OBJECTS.items():
                if request.GET.get(name):  # without a value: as if omitted (RFC 6749 §3.1)
                    # §6.1, §6.2: an OP that does not support request objects "MUST
                    # return the request_not_supported" (request_uri_not_supported)
                    # error; oauthlib would ignore them, answering from the parameters
                    # outside the object instead. Discovery says they are unsupported.
                    return self._refuse_to_client(request, unsupported())
            if _malformed_challenge(request.GET.get("code_challenge")):
                # RFC 7636 §4.2: an S256 challenge (the only method accepted) is the
                # base64url SHA-256 of the verifier, 43 characters. Any other value could
                # never be matched: the code it bought would be refused at the token
                # endpoint, after the person had signed in and approved for nothing.
                return self._invalid_request(
                    request, "code_challenge must be an S256 challenge: 43 characters of "
                             "base64url, the SHA-256 of the code verifier (RFC 7636).")
            if _malformed_max_age(request.GET.get("max_age")):
                # §3.1.2.1: max_age is a number of seconds. Ignoring a value that is not
                # would hand out a code without the fresh sign-in the application asked
                # for.
                return self._invalid_request(
                    request, "max_age must be a whole number of seconds (0 or more).")
        return super().dispatch(request, *args, **kwargs)

    def _authorization_by_post(self, request: HttpRequest) -> HttpResponse:
        """The same request as a GET (``authorization_post``), unless what it carries could
        not go into an address: a body that is not a form, a token or secret, a NUL."""
        if authorization_post.unreadable_body(request):
            return self._refuse(request, ["Content-Type"], (
                f"Content-Type {request.content_type or '(none)'} is not accepted: send "
                "the authorization request's parameters as "
                "application/x-www-form-urlencoded."))
        return (self.refusal(request, request.GET, _SEND_ELSEWHERE)
                or self.refusal(request, request.POST, _NOT_IN_AUTHORIZATION)
                or authorization_post.as_get(request, authorization_post.parameters(request)))

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        """The consent page's answer, under Django's CSRF check (the page's form carries
        the token). The endpoint as a whole is exempt so that an application's
        cross-site POST reaches ``dispatch``, which sends it on as a GET."""
        return csrf_protect(super().post)(request, *args, **kwargs)

    def get_initial(self) -> dict:
        """The toolkit's hidden fields, and the one that marks the page's answer."""
        return {**super().get_initial(), authorization_post.CONSENT_ANSWER: "1"}

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        prompt = _prompts(request)
        if request.user.is_authenticated:
            asked = sorted(prompt & _SIGN_IN_PROMPTS)
            reason = (f"prompt={asked[0]}" if asked
                      else "max_age" if self._session_too_old(request)
                      else "id_token_hint" if self._hint_names_someone_else(request) else None)
            if reason:
                return self._sign_in_again(request, reason, *args, **kwargs)
            if not _reauthentication_done(request):
                # Back from the sign-in page without having signed in again (or by
                # typing the address): ask again.
                return self._to_sign_in(request, drop="", again=True)
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
        # oauthlib copies the credentials onto its request: the validator keeps this
        # session's sign-in time and methods with the code (``IssuedCode``), for the ID
        # token's auth_time, amr and acr at the exchange.
        signed_in_at = session_signed_in_at(request)
        credentials = {**credentials, "keystead_auth_time": signed_in_at,
                       "keystead_amr": sign_in_methods.of_session(request, signed_in_at),
                       "keystead_sid": backchannel.session_sid(request)}
        return super().create_authorization_response(request=request, scopes=scopes,
                                                     credentials=credentials, allow=allow)

    def form_valid(self, form) -> HttpResponse:
        """The consent page's answer, audited: which application, which scopes, given or
        refused (the toolkit's answer to the application is unchanged)."""
        if not get_application_model().objects.filter(
                client_id=form.cleaned_data.get("client_id") or "").exists():
            # The page's hidden field changed: the toolkit would look it up and fail.
            return HttpResponseBadRequest("client_id names no registered application.",
                                          content_type="text/plain")
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

    def _invalid_request(self, request: HttpRequest, description: str) -> HttpResponse:
        """``invalid_request`` sent to the registered redirect URI, with ``state``, for a
        request oauthlib would otherwise let through; its own errors go first."""
        return self._refuse_to_client(request, InvalidRequestError(description=description))

    def _refuse_to_client(self, request: HttpRequest, error) -> HttpResponse:
        """``error`` (an oauthlib error) sent to the registered redirect URI, with
        ``state``, for a request oauthlib would otherwise let through; its own errors
        (an unknown client, an unregistered redirect URI: never redirected) go first."""
        try:
            _, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as refused:
            return self.error_response(refused, application=None)
        error.state = credentials.get("state")
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
        return self._to_sign_in(request, drop=reason.partition("=")[0], again=True)

    def _to_sign_in(self, request: HttpRequest, drop: str, again: bool = False) -> HttpResponse:
        """The sign-in page, then back here without what signing in satisfies (so
        ``max_age=0`` or ``prompt=login`` does not loop).

        ``again``: the person is signed in but must sign in again. The session is not
        ended (a link from any site could otherwise sign people out): the sign-in page
        is asked to show its form anyway (``prompt=login`` in its address), and the
        address to come back to is remembered in the session, so coming back to it
        without a newer sign-in (the page skipped, the address typed) asks again.
        """
        query = request.GET.copy()
        if drop == "prompt":
            kept = [p for p in request.GET.get("prompt", "").split()
                    if p not in _SIGN_IN_PROMPTS]
            query.pop("prompt", None)
            if kept:
                query["prompt"] = " ".join(kept)
        elif drop:
            query.pop(drop, None)
        back = f"{request.path}?{query.urlencode()}"
        login_url = resolve_url(self.get_login_url())
        if again:
            _remember_reauthentication(request, query)
            login_url = f"{login_url}?prompt=login"
        return redirect_to_login(back, login_url, self.get_redirect_field_name())

    @staticmethod
    def _hint_names_someone_else(request: HttpRequest) -> bool:
        hint = request.GET.get("id_token_hint")
        if not hint:
            return False
        claims = id_token_hints.verified_claims(hint, request)
        if claims is None:
            return False  # not one of ours: only a hint, ignored
        # The sub the hint's application knows the person by (public or pairwise).
        audience = claims.get("aud")
        audience = audience[0] if isinstance(audience, list) and audience else audience
        application = (get_application_model().objects.select_related("keystead_settings")
                       .filter(client_id=str(audience or "")).first())
        return str(claims.get("sub")) != subject_for(request.user, application)

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
        signed_in = session_signed_in_at(request)
        # Compared in seconds: a max_age beyond timedelta's range (about 2.7 million
        # years) would overflow it, and any session is younger than that anyway.
        return signed_in is None or (timezone.now() - signed_in).total_seconds() > max_age

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
    the ``prompt`` values, grant types and subject types (public and pairwise,
    OpenID Connect Core §8) Keystead handles, and the ``acr`` value and the ``acr``
    and ``amr`` claims its ID tokens state (``sign_in_methods``).
    """

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        document = json.loads(response.content)
        document["id_token_signing_alg_values_supported"] = ["RS256", "ES256"]
        document["prompt_values_supported"] = ["none", "login", "consent", "select_account"]
        # Each application is public (the default) or pairwise (ClientSettings.subject_type).
        document["subject_types_supported"] = ["public", "pairwise"]
        # Each application allows some of these (grants.py); no implicit flow.
        document["grant_types_supported"] = ["authorization_code", "refresh_token",
                                             "client_credentials", "password"]
        # A public client sends only its client id (RFC 7591 §2 "none").
        document["token_endpoint_auth_methods_supported"] = [
            "client_secret_basic", "client_secret_post", "none"]
        # Request objects are refused (§6); omitted, request_uri_parameter_supported
        # would mean true (Discovery §3).
        document["request_parameter_supported"] = False
        document["request_uri_parameter_supported"] = False
        # How the person signed in (``sign_in_methods``): stated in every ID token whose
        # sign-in is known, whatever acr_values asks (§3.1.2.1: voluntary); no step-up.
        document["acr_values_supported"] = [sign_in_methods.REFEDS_MFA]
        document["claims_supported"] = [*document.get("claims_supported", []),
                                        "acr", "amr", "sid"]
        # Back-Channel Logout 1.0 §2.1 (``backchannel``): ID tokens state sid, and logout
        # tokens carry it.
        document["backchannel_logout_supported"] = True
        document["backchannel_logout_session_supported"] = True
        # RFC 8414 §2 names, so client libraries find revocation and introspection.
        base = document["token_endpoint"].removesuffix(reverse("oauth2_provider:token"))
        document["revocation_endpoint"] = base + reverse("oauth2_provider:revoke-token")
        document["introspection_endpoint"] = base + reverse("oauth2_provider:introspect")
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


@_api_endpoint
class KeysteadUserInfoView(RefuseSecretsInQuery, UserInfoView):
    """DOT's userinfo, refusing a token in the query string (``RefuseSecretsInQuery``).

    Its error answers carry a JSON body (``{"error": "invalid_token", ...}``) beside
    the RFC 6750 challenge; they say so in ``Content-Type`` (the toolkit leaves them
    ``text/html``). A live token of a person that lacks the ``openid`` scope is
    ``403 insufficient_scope`` (RFC 6750 §3.1; OpenID Connect Core §5.3 asks for an
    ``openid`` token): the toolkit's check of the scope fails the token as a whole,
    which would answer ``401 invalid_token`` and send the application refreshing a
    token that is fine."""

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().dispatch(request, *args, **kwargs)
        if response.status_code == 401 and self._live_without_openid(request):
            response = JsonResponse(
                {"error": "insufficient_scope",
                 "error_description": "Userinfo needs an access token with the openid "
                                      "scope."}, status=403)
            response["WWW-Authenticate"] = 'Bearer error="insufficient_scope", scope="openid"'
        if (response.status_code >= 400 and response.content.startswith(b"{")
                and response.get("Content-Type", "").startswith("text/html")):
            response["Content-Type"] = "application/json"
        return response

    @staticmethod
    def _live_without_openid(request: HttpRequest) -> bool:
        """Whether the bearer token sent is a person's live access token without ``openid``."""
        scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        value = value.strip() if scheme.lower() == "bearer" else request.POST.get(
            "access_token", "")
        if not value:
            return False
        token = (get_access_token_model().objects.select_related("user")
                 .filter(token_checksum=token_checksum(value)).first())
        return (token is not None and token.user is not None and token.user.is_active
                and not token.is_expired() and not token.allow_scopes(["openid"]))


@_api_endpoint
class KeysteadRevokeTokenView(RefuseSecretsInQuery, RevokeTokenView):
    """DOT's revocation (RFC 7009), refusing a token in the query string; a client that
    failed HTTP Basic gets a Basic challenge (§2.2.1 answers as RFC 6749 §5.2). Every
    error answer is recorded as ``oidc.revocation_refused`` (names and codes only)."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        token_answers.name_basic_challenge(request, response)
        if response.status_code >= 400:
            body = _json_body(response)
            token_answers.record_refusal(request, error=str(body.get("error", "")),
                                         description=str(body.get("error_description", "")),
                                         action=token_answers.REVOCATION_REFUSED)
        return response


@_api_endpoint
class KeysteadIntrospectTokenView(RefuseSecretsInQuery, IntrospectTokenView):
    """DOT's introspection (RFC 7662), for callers that may know about other clients'
    tokens only, refusing a token in the query string (DOT reads ``?token=`` on GET).

    DOT lets in any client that ``authenticate_client`` accepts, which includes a
    public client naming only its client id (anyone can do that: the id is not a
    secret), and the answer names the token's person. Here only a confidential
    client that proved its secret, or a bearer token with the ``introspection``
    scope (DOT's own path), may introspect (RFC 7662 §2.1: "the endpoint MUST also
    require some form of authorization"). Refusals are audited as
    ``oidc.introspection_refused``.
    """

    @staticmethod
    def get_token_response(token_value=None):
        """DOT's answer, except that a token whose person is disabled is not active (its
        tokens are revoked on disabling; this covers the instant in between), and
        with ``sub`` as the token's application knows the person."""
        if token_value is None:
            return IntrospectTokenView.get_token_response(token_value)
        token = (get_access_token_model().objects
                 .select_related("user", "application__keystead_settings")
                 .filter(token_checksum=token_checksum(token_value))
                 .first())
        if token is not None and token.user is not None and not token.user.is_active:
            return JsonResponse({"active": False})
        response = IntrospectTokenView.get_token_response(token_value)
        body = json.loads(response.content)
        if body.get("active") and token is not None and token.user is not None:
            # The person as the token's application knows them (RFC 7662 ``sub``).
            body["sub"] = subject_for(token.user, token.application)
            return JsonResponse(body)
        return response

    def authenticate_client(self, request: HttpRequest) -> bool:
        try:
            client = client_auth.authenticate(request.META.get("HTTP_AUTHORIZATION", ""),
                                              request.POST)
        except client_auth.InvalidClient:
            return False  # then DOT tries a bearer token with the introspection scope
        return client.client_type == get_application_model().CLIENT_CONFIDENTIAL

    def unauthenticated_response(self, request: HttpRequest, oauthlib_request):
        """RFC 7662 §2.3: client credentials that fail are ``401`` (RFC 6749 §5.2
        ``invalid_client``, a Basic challenge if Basic was tried); a bearer token that is
        not valid is ``401 invalid_token`` and one without the ``introspection`` scope
        ``403 insufficient_scope`` (RFC 6750 §3.1); no credentials at all is ``401``. A
        public client, which proves nothing but its id, is ``403``. HTTP Basic with a
        different ``client_id`` in the body is ``400 invalid_request``, as ``client_auth``
        decides for every endpoint."""
        authorization = request.META.get("HTTP_AUTHORIZATION", "")
        credentials = client_auth.credentials_from(authorization, request.POST)
        bearer = authorization.partition(" ")[0].lower() == "bearer"
        refused = None
        if credentials is not None and not bearer:
            try:
                client_auth.authenticate(authorization, request.POST)
            except client_auth.InvalidClient as failed:
                refused = failed
        audit.record("oidc.introspection_refused", request=request, outcome=Outcome.DENIED,
                     actor_label=f"client {credentials.client_id[:100]}" if credentials
                     else "unauthenticated",
                     detail={"reason": getattr(refused, "description", "")
                             or "needs a confidential client's credentials or a bearer "
                                "token with the introspection scope"})
        if bearer:
            error = getattr(oauthlib_request, "oauth2_error", None) or {}
            if error.get("error") == "insufficient_scope":
                return self._refused(403, "insufficient_scope",
                                     'Bearer error="insufficient_scope", scope="introspection"')
            return self._refused(401, "invalid_token", 'Bearer error="invalid_token"')
        if credentials is None:
            challenge = (token_answers.BASIC_CHALLENGE if client_auth.tried_basic(authorization)
                         else 'Bearer realm="oauth"')
            return self._refused(401, "invalid_client", challenge)
        if refused is not None and refused.status != 401:
            return self._refused(refused.status, refused.error, None, refused.description)
        if refused is not None:
            return self._refused(401, "invalid_client", token_answers.BASIC_CHALLENGE
                                 if refused.used_basic else 'Bearer error="invalid_client"')
        return self._refused(403, "unauthorized_client", None)  # a public client

    @staticmethod
    def _refused(status: int, error: str, challenge: str | None,
                 description: str = "") -> HttpResponse:
        body = {"error": error, "error_description": description} if description else {
            "error": error}
        response = JsonResponse(body, status=status)
        if challenge:
            response["WWW-Authenticate"] = challenge
        return response


@method_decorator(login_not_required, name="dispatch")
class KeysteadLogoutView(RefuseSecretsInQuery, RPInitiatedLogoutView):
    """DOT's RP-initiated logout (``id_token_hint`` is an ID token, not a bearer secret,
    and stays allowed in the query as the specification requires)."""

    def get_request_application(self, id_token, client_id):
        """An unknown ``client_id`` is the toolkit's own "unknown client" error, answered
        as such (its lookup would otherwise fail with no answer at all)."""
        if client_id:
            application = get_application_model().objects.filter(client_id=client_id).first()
            if application is None:
                raise InvalidOIDCClientError()
            return application
        return super().get_request_application(id_token, client_id)

"""The IdP's addresses: metadata, single sign-on (both bindings, and IdP-initiated), logout.

Sign-on requires a signed-in Keystead session: people who are not signed in go to the
normal sign-in page (lockout, second factors and forced password change apply) and
come back here afterwards. The answer always goes to an assertion consumer service
the application's registered metadata lists, by HTTP-POST.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.request import AuthnRequest
from saml2.s_utils import decode_base64_and_inflate
from saml2.samlp import (
    STATUS_NO_PASSIVE,
    authn_request_from_string,
    logout_request_from_string,
)
from saml2.sigver import verify_redirect_signature

from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.providers.oidc.views import session_signed_in_at
from keystead.providers.saml import idp, metadata, responses, sp_metadata
from keystead.providers.saml.models import SamlApplication

log = logging.getLogger(__name__)
PENDING = "saml_idp_pending"  # session key: POST-binding requests waiting for sign-in
FORCED = "saml_idp_forced"  # session key: ForceAuthn requests, by ID, and when they came


class Refused(Exception):
    """A request Keystead will not answer; the message is safe to show the person."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason


def _refuse(request: HttpRequest, refused: Refused, application: SamlApplication | None,
            event: str = "saml.sso") -> HttpResponse:
    audit.record(event, request=request, target=application, outcome=Outcome.FAILURE,
                 detail={"application": application.slug if application else "",
                         "reason": refused.detail[:300]})
    return render(request, "saml_idp/refused.html", {"reason": refused.reason}, status=400)


@require_GET
def idp_metadata(request: HttpRequest) -> HttpResponse:
    """The IdP's signed metadata, at the address that is also its entity ID."""
    return HttpResponse(metadata.signed_metadata(), content_type="application/samlmetadata+xml")


def _decode(message: str, binding: str) -> str:
    try:
        if binding == BINDING_HTTP_REDIRECT:
            return decode_base64_and_inflate(message).decode()
        return base64.b64decode(message, validate=False).decode()
    except Exception as exc:  # zlib, base64 and UTF-8 errors alike
        raise Refused("The sign-in request is not a SAML message.", str(exc)) from exc


def _parsed(parse, message: str, binding: str, what: str):
    """The decoded message parsed by pysaml2 (``parse``: its ``…_from_string``), None when
    it is another kind of SAML message; XML that is not well-formed, or that declares a
    DTD or entities (which the parser refuses), is refused like any broken message."""
    xml = _decode(message, binding)
    try:
        return parse(xml)
    except Exception as exc:  # ElementTree's ParseError, defusedxml's refusals alike
        raise Refused(f"The {what} is not well-formed SAML XML.",
                      f"{type(exc).__name__}: {exc}"[:300]) from exc


def _application_of(issuer: str | None) -> SamlApplication:
    application = SamlApplication.objects.filter(entity_id=issuer or "", enabled=True).first()
    if application is None:
        raise Refused("The application asking for sign-in is not registered with this "
                      "identity provider (or is disabled).",
                      f"unknown or disabled SP entity ID {issuer!r}"[:300])
    return application


def _consumer_url(described: sp_metadata.SpDescription, asked: str | None,
                  index: str | None = None) -> str:
    """The ACS to answer: the one asked for (by address or by index) if the metadata lists
    it, else the first HTTP-POST one."""
    if asked and asked not in described.acs_urls:
        raise Refused("The application asked to be answered at an address its registration "
                      "does not list.", f"unregistered ACS URL {asked!r}"[:300])
    if not asked and index is not None:
        if str(index) not in described.acs_indexes:
            raise Refused("The application asked to be answered at an address its "
                          "registration does not list.",
                          f"no HTTP-POST ACS with index {index!r}"[:300])
        return described.acs_urls[described.acs_indexes.index(str(index))]
    return asked or described.acs_urls[0]


def _post_form(request: HttpRequest, application: SamlApplication, url: str, field: str,
               message: str, relay_state: str) -> HttpResponse:
    response = render(request, "saml_idp/post.html", {
        "application_name": application.name, "url": url, "field": field,
        "message": message, "relay_state": relay_state})
    response["Cache-Control"] = "no-store"
    return response


def _answer(request: HttpRequest, application: SamlApplication, destination: str, *,
            in_response_to: str | None, relay_state: str, door: str) -> HttpResponse:
    with idp.server(application) as server:
        xml = responses.authn_response(server, application, request.user,
                                       in_response_to=in_response_to, destination=destination)
    audit.record("saml.sso", request=request, target=application,
                 detail={"application": application.slug, "person": request.user.email,
                         "nameid_format": application.nameid_format, "door": door})
    return _post_form(request, application, destination, "SAMLResponse",
                      responses.encoded(xml), relay_state)


def _sso(request: HttpRequest, message: str, binding: str, relay_state: str,
         sigalg: str | None = None, signature: str | None = None) -> HttpResponse:
    application = None
    try:
        parsed = _parsed(authn_request_from_string, message, binding, "sign-in request")
        if parsed is None:
            raise Refused("The sign-in request is not a SAML AuthnRequest.", "not an AuthnRequest")
        application = _application_of(parsed.issuer.text if parsed.issuer else None)
        described = sp_metadata.describe(application.metadata_xml)  # once per request
        wants_signed = described.wants_signed_requests
        signed = (bool(signature) if binding == BINDING_HTTP_REDIRECT
                  else parsed.signature is not None)
        if wants_signed and not signed:
            raise Refused("The application's sign-in request must be signed and was not.",
                          "AuthnRequest not signed though the SP's metadata says it signs")
        with idp.server(application, want_signed_requests=signed) as server:
            try:
                checked: AuthnRequest = server.parse_authn_request(
                    message, binding, relay_state=relay_state or None, sigalg=sigalg,
                    signature=signature)
            except Exception as exc:  # pysaml2 raises many kinds; all mean "refuse"
                raise Refused("The application's sign-in request could not be verified.",
                              f"{type(exc).__name__}: {exc}"[:300]) from exc
        destination = _consumer_url(described, checked.message.assertion_consumer_service_url,
                                    checked.message.assertion_consumer_service_index)
        # (refused above, before anyone is asked to sign in)
    except Refused as refused:
        return _refuse(request, refused, application)
    except sp_metadata.MetadataProblem as problem:
        return _refuse(request, Refused("The application's registration is broken.", str(problem)),
                       application)
    passive = str(checked.message.is_passive).lower() == "true"
    force = str(checked.message.force_authn).lower() == "true"
    fresh = request.user.is_authenticated and (not force or _signed_in_again(request, checked))
    if not fresh and passive:
        return _no_passive(request, application, destination, checked, relay_state)
    if not request.user.is_authenticated:
        return _to_sign_in(request, message, binding, relay_state)
    if not fresh:
        return _to_sign_in(request, message, binding, relay_state, again=True)
    try:
        return _answer(request, application, destination, in_response_to=checked.message.id,
                       relay_state=relay_state, door="sp-initiated")
    except responses.CannotEncrypt as problem:
        return _refuse(request, Refused("The application's registration is broken.",
                                        str(problem)), application)


def _signed_in_again(request: HttpRequest, checked: AuthnRequest) -> bool:
    """ForceAuthn: whether this session signed in after the request first came.

    The first time, the request's arrival is remembered in the session and the answer
    is no; coming back from the sign-in page, the session's sign-in must be newer.
    """
    asked = request.session.get(FORCED, {})
    key = str(checked.message.id)[:80]
    if key not in asked:
        request.session[FORCED] = {**dict(list(asked.items())[-4:]),
                                   key: timezone.now().isoformat()}
        return False
    signed_in_at = session_signed_in_at(request)
    if signed_in_at is None or signed_in_at <= dt.datetime.fromisoformat(asked[key]):
        return False
    request.session[FORCED] = {k: v for k, v in asked.items() if k != key}
    return True


def _no_passive(request: HttpRequest, application: SamlApplication, destination: str,
                checked: AuthnRequest, relay_state: str) -> HttpResponse:
    """IsPassive and nobody (freshly enough) signed in: tell the SP so, without a page."""
    with idp.server(application) as server:
        answer = server.create_error_response(
            checked.message.id, destination, (STATUS_NO_PASSIVE, "Nobody is signed in."),
            sign=True, sign_alg=idp.SIGN_ALG, digest_alg=idp.DIGEST_ALG)
    audit.record("saml.sso", request=request, target=application, outcome=Outcome.FAILURE,
                 detail={"application": application.slug, "reason": "passive: not signed in"})
    return _post_form(request, application, destination, "SAMLResponse",
                      responses.encoded(str(answer)), relay_state)


def _to_sign_in(request: HttpRequest, message: str, binding: str, relay_state: str,
                again: bool = False) -> HttpResponse:
    """The sign-in page, then back; ``again`` (ForceAuthn) shows its form even to a
    signed-in person."""
    login_url = f"{resolve_url(settings.LOGIN_URL)}?prompt=login" if again else None
    if binding == BINDING_HTTP_REDIRECT:
        return redirect_to_login(request.get_full_path(), login_url)
    # A POSTed request cannot ride on a redirect: it waits in the session.
    handle = secrets.token_urlsafe(16)
    pending = request.session.get(PENDING, {})
    pending = dict(list(pending.items())[-4:])  # a few at most, the newest kept
    pending[handle] = {"message": message, "relay_state": relay_state}
    request.session[PENDING] = pending
    return redirect_to_login(f"{reverse('saml_idp:sso_post')}?{urlencode({'pending': handle})}",
                             login_url)


@require_GET
def sso_redirect(request: HttpRequest) -> HttpResponse:
    message = request.GET.get("SAMLRequest", "")
    if not message:
        return _refuse(request, Refused("The address has no SAMLRequest: start sign-in from "
                                        "the application."), None)
    return _sso(request, message, BINDING_HTTP_REDIRECT, request.GET.get("RelayState", ""),
                request.GET.get("SigAlg"), request.GET.get("Signature"))


@csrf_exempt  # SAML HTTP-POST comes from the application's page; the message is its proof
@require_http_methods(["GET", "POST"])
def sso_post(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        # Back from the sign-in page with a request that waited in the session.
        waiting = request.session.get(PENDING, {}).get(request.GET.get("pending", ""))
        if not waiting or not request.user.is_authenticated:
            return _refuse(request, Refused("This sign-in has expired: start it again from the "
                                            "application."), None)
        pending = request.session[PENDING]
        pending.pop(request.GET["pending"], None)
        request.session[PENDING] = pending
        return _sso(request, waiting["message"], BINDING_HTTP_POST, waiting["relay_state"])
    message = request.POST.get("SAMLRequest", "")
    if not message:
        return _refuse(request, Refused("The form has no SAMLRequest: start sign-in from the "
                                        "application."), None)
    return _sso(request, message, BINDING_HTTP_POST, request.POST.get("RelayState", ""))


@login_required
@require_GET
def launch(request: HttpRequest, slug: str) -> HttpResponse:
    """IdP-initiated sign-in, from the portal's list of applications."""
    application = get_object_or_404(SamlApplication, slug=slug, enabled=True)
    try:
        destination = _consumer_url(sp_metadata.describe(application.metadata_xml), None)
        return _answer(request, application, destination, in_response_to=None,
                       relay_state=application.relay_state, door="idp-initiated")
    except (Refused, sp_metadata.MetadataProblem, responses.CannotEncrypt) as exc:
        return _refuse(request, exc if isinstance(exc, Refused) else
                       Refused("The application's registration is broken.", str(exc)),
                       application)


def _logout(request: HttpRequest, message: str, binding: str, relay_state: str) -> HttpResponse:
    """Single logout started by an application: end the Keystead session and answer."""
    application = None
    try:
        parsed = _parsed(logout_request_from_string, message, binding, "logout request")
        if parsed is None:
            raise Refused("The logout request is not a SAML LogoutRequest.")
        application = _application_of(parsed.issuer.text if parsed.issuer else None)
        description = sp_metadata.describe(application.metadata_xml)
        with idp.server(application, want_signed_requests=binding == BINDING_HTTP_POST) as server:
            if binding == BINDING_HTTP_REDIRECT:
                signed = {k: request.GET[k] for k in ("SAMLRequest", "RelayState", "SigAlg",
                                                      "Signature") if k in request.GET}
                certificates = server.metadata.certs(application.entity_id, "spsso", "signing")
                if not {"Signature", "SigAlg"} <= signed.keys() or not any(
                        verify_redirect_signature(signed, server.sec.sec_backend, cert)
                        for _, cert in certificates):
                    raise Refused("The application's logout request is not signed by it.",
                                  "LogoutRequest signature missing or not valid")
            try:
                checked = server.parse_logout_request(message, binding)
            except Exception as exc:
                raise Refused("The application's logout request could not be verified.",
                              f"{type(exc).__name__}: {exc}"[:300]) from exc
            bindings = [b for b, _ in description.slo]
            if not bindings:
                raise Refused("The application's registration has no logout address.")
            answer = server.create_logout_response(checked.message, bindings, sign=True,
                                                   sign_alg=idp.SIGN_ALG,
                                                   digest_alg=idp.DIGEST_ALG)
            binding_out = bindings[0]
            destination = dict(description.slo)[binding_out]
            sent = server.apply_binding(binding_out, str(answer), destination, relay_state,
                                        response=True, sign=True, sigalg=idp.SIGN_ALG)
    except Refused as refused:
        return _refuse(request, refused, application, event="saml.slo")
    except sp_metadata.MetadataProblem as problem:
        return _refuse(request, Refused("The application's registration is broken.",
                                        str(problem)), application, event="saml.slo")
    person = request.user if request.user.is_authenticated else None
    audit.record("saml.slo", request=request, target=application,
                 detail={"application": application.slug,
                         "person": person.email if person else ""})
    if person is not None:
        audit.record("logout", request=request, target=person, detail={"door": "saml"})
        logout(request)
    if binding_out == BINDING_HTTP_REDIRECT:
        return HttpResponseRedirect(sent["url"] if "Location" not in dict(sent["headers"])
                                    else dict(sent["headers"])["Location"])
    encoded = base64.b64encode(str(answer).encode()).decode("ascii")
    return _post_form(request, application, destination, "SAMLResponse", encoded, relay_state)


@require_GET
def slo_redirect(request: HttpRequest) -> HttpResponse:
    return _logout(request, request.GET.get("SAMLRequest", ""), BINDING_HTTP_REDIRECT,
                   request.GET.get("RelayState", ""))


@csrf_exempt  # as sso_post: the signed message is the proof, not a form of ours
@require_http_methods(["POST"])
def slo_post(request: HttpRequest) -> HttpResponse:
    return _logout(request, request.POST.get("SAMLRequest", ""), BINDING_HTTP_POST,
                   request.POST.get("RelayState", ""))

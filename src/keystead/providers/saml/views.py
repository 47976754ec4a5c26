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
import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.request import AuthnRequest
from saml2.s_utils import decode_base64_and_inflate, error_status_factory
from saml2.saml import NAMEID_FORMAT_UNSPECIFIED
from saml2.samlp import (
    STATUS_INVALID_NAMEID_POLICY,
    STATUS_NO_AUTHN_CONTEXT,
    STATUS_NO_PASSIVE,
    STATUS_PARTIAL_LOGOUT,
    STATUS_REQUEST_DENIED,
    STATUS_REQUESTER,
    STATUS_RESPONDER,
    STATUS_SUCCESS,
    STATUS_UNKNOWN_PRINCIPAL,
    STATUS_UNSUPPORTED_BINDING,
    Status,
    StatusCode,
    StatusMessage,
    authn_request_from_string,
    logout_request_from_string,
    logout_response_from_string,
)
from saml2.sigver import verify_redirect_signature
from saml2.validate import validate_on_or_after

from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.login.second_step import passed_second_factor
from keystead.providers.oidc.views import session_signed_in_at
from keystead.providers.saml import (
    authn_context,
    bindings,
    idp,
    metadata,
    release,
    request_checks,
    responses,
    single_logout,
    sp_metadata,
)
from keystead.providers.saml.models import SamlApplication

log = logging.getLogger(__name__)
PENDING = "saml_idp_pending"  # session key: POST-binding requests waiting for sign-in
FORCED = "saml_idp_forced"  # session key: ForceAuthn requests, by ID, and when they came
#: Session key: requests (by ID) that arrived in time and wait for the person to sign in,
#: with when they arrived; their IssueInstant is not held against them when they return.
ADMITTED = "saml_idp_admitted"
#: How long a request that waits for the person to sign in (password, second factor,
#: perhaps a forgotten password) stays answerable: Keycloak's default login timeout.
SIGN_IN_MINUTES = 30


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
    """The decoded message and what pysaml2 (``parse``: its ``…_from_string``) makes of it,
    None when it is another kind of SAML message; XML that is not well-formed, or that
    declares a DTD or entities (which the parser refuses), is refused like any broken
    message."""
    xml = _decode(message, binding)
    try:
        return xml, parse(xml)
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


def _destined_here(message) -> None:
    """Bindings 3.4.5.2 / 3.5.5.2: a signed request MUST carry the Destination it was sent
    to. pysaml2 compares one that is present with Keystead's addresses, but lets a signed
    request without one through, which would let a request signed for another IdP be
    brought here."""
    if not message.destination:
        raise Refused("The application's request could not be verified.",
                      "a signed request without a Destination")


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
    return bindings.post_form(request, application.name, url, field, message, relay_state)


def _second_factor(request: HttpRequest) -> bool:
    """Whether this session's sign-in passed a second factor (a remembered browser that
    skipped one did not)."""
    return passed_second_factor(request, session_signed_in_at(request))


def _answer(request: HttpRequest, application: SamlApplication, destination: str, *,
            in_response_to: str | None, relay_state: str, door: str,
            class_ref: str = "") -> HttpResponse:
    """The assertion for the signed-in person; ``class_ref``: the authentication context
    chosen for the request (empty: the strongest this sign-in has)."""
    class_ref = class_ref or authn_context.decide(
        None, second_factor=_second_factor(request)).class_ref
    with idp.server(application) as server:
        issued = responses.authn_response(
            server, application, request.user, in_response_to=in_response_to,
            destination=destination, class_ref=class_ref,
            authenticated_at=session_signed_in_at(request) or request.user.last_login)
    audit.record("saml.sso", request=request, target=application,
                 detail={"application": application.slug, "person": request.user.email,
                         "nameid_format": application.nameid_format, "door": door,
                         "authn_context": class_ref})
    single_logout.remember(request, application, issued.session_index)
    return _post_form(request, application, destination, "SAMLResponse",
                      responses.encoded(issued.xml), relay_state)


def _requested_classes(checked: AuthnRequest) -> tuple[list[str] | None, str]:
    """The request's <RequestedAuthnContext>: its class references (None: there is none)
    and its comparison."""
    requested = checked.message.requested_authn_context
    if requested is None:
        return None, "exact"
    return ([(c.text or "").strip() for c in requested.authn_context_class_ref or []],
            requested.comparison or "exact")


def _sso(request: HttpRequest, message: str, binding: str, relay_state: str,
         sigalg: str | None = None, signature: str | None = None) -> HttpResponse:
    application = None
    try:
        xml, parsed = _parsed(authn_request_from_string, message, binding, "sign-in request")
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
        if weak := request_checks.weak_signature(xml, sigalg if signature else None):
            raise Refused("The application's sign-in request could not be verified.",
                          f"AuthnRequest {weak}")
        with idp.server(application, want_signed_requests=signed) as server:
            try:
                checked: AuthnRequest = server.parse_authn_request(
                    message, binding, relay_state=relay_state or None, sigalg=sigalg,
                    signature=signature)
            except Exception as exc:  # pysaml2 raises many kinds; all mean "refuse"
                raise Refused("The application's sign-in request could not be verified.",
                              f"{type(exc).__name__}: {exc}"[:300]) from exc
        if signed:
            _destined_here(checked.message)
        destination = _consumer_url(described, checked.message.assertion_consumer_service_url,
                                    checked.message.assertion_consumer_service_index)
        # (refused above, before anyone is asked to sign in)
    except Refused as refused:
        return _refuse(request, refused, application)
    except sp_metadata.MetadataProblem as problem:
        return _refuse(request, Refused("The application's registration is broken.", str(problem)),
                       application)
    key = str(checked.message.id)[:80]
    stale, arrived = _stale(request, key, checked.message.issue_instant)
    if stale:
        return _status_answer(request, application, destination, checked, relay_state,
                              STATUS_REQUEST_DENIED, stale,
                              "The request is too old (or dated in the future).",
                              top=STATUS_REQUESTER)
    wanted_binding = (checked.message.protocol_binding or "").strip()
    if wanted_binding and wanted_binding != BINDING_HTTP_POST:
        # Core 3.4.1: ProtocolBinding names how the answer must come; Keystead answers by
        # HTTP-POST only (Profiles 4.1.2 forbids HTTP-Redirect for it; no Artifact, PAOS).
        return _status_answer(request, application, destination, checked, relay_state,
                              STATUS_UNSUPPORTED_BINDING,
                              f"ProtocolBinding {wanted_binding[:120]} is not supported; "
                              "Keystead answers by HTTP-POST only",
                              "Responses are sent by HTTP-POST only.")
    unmet = _name_id_policy_unmet(application, checked.message.name_id_policy)
    if unmet:
        return _status_answer(request, application, destination, checked, relay_state,
                              STATUS_INVALID_NAMEID_POLICY, unmet)
    classes, comparison = _requested_classes(checked)
    if not authn_context.can_ever_meet(classes, comparison):
        return _status_answer(request, application, destination, checked, relay_state,
                              STATUS_NO_AUTHN_CONTEXT,
                              authn_context.decide(classes, comparison,
                                                   second_factor=True).reason)
    passive = str(checked.message.is_passive).lower() == "true"
    force = str(checked.message.force_authn).lower() == "true"
    fresh = request.user.is_authenticated and (not force or _signed_in_again(request, checked))
    if not fresh and passive:
        return _status_answer(request, application, destination, checked, relay_state,
                              STATUS_NO_PASSIVE, "passive: not signed in",
                              "Nobody is signed in.")
    if not request.user.is_authenticated:
        return _to_sign_in(request, message, binding, relay_state, (key, arrived))
    if not fresh:
        return _to_sign_in(request, message, binding, relay_state, (key, arrived),
                           again=True)
    if _not_the_person(application, request.user, _subject_name_id(checked.message),
                       asked=True):
        return _status_answer(request, application, destination, checked, relay_state,
                              STATUS_UNKNOWN_PRINCIPAL,
                              "the request's Subject names someone other than the signed-in "
                              "person", "The request is about someone else.")
    decided = authn_context.decide(classes, comparison, second_factor=_second_factor(request))
    if not decided.class_ref:
        # Keystead has no step-up of its own (a second factor for someone whose sign-in
        # did not ask for one): the SP is told, as Core 3.3.2.2.1 says.
        return _status_answer(request, application, destination, checked, relay_state,
                              STATUS_NO_AUTHN_CONTEXT, decided.reason)
    try:
        return _answer(request, application, destination, in_response_to=checked.message.id,
                       relay_state=relay_state, door="sp-initiated",
                       class_ref=decided.class_ref)
    except responses.CannotEncrypt as problem:
        return _refuse(request, Refused("The application's registration is broken.",
                                        str(problem)), application)


def _stale(request: HttpRequest, key: str, issue_instant: str | None) -> tuple[str, float]:
    """Why the request is too old or too new to answer ("" when it is not), and when it
    first arrived.

    A request that arrived in time and waited in this session while the person signed in
    (``_to_sign_in``) comes back with the same IssueInstant: it is answered up to
    ``SIGN_IN_MINUTES`` after it first arrived, and once (the next arrival is new)."""
    admitted = request.session.get(ADMITTED, {})
    arrived = admitted.get(key)
    if not isinstance(arrived, int | float):
        return request_checks.issue_instant_problem(issue_instant), time.time()
    request.session[ADMITTED] = {k: v for k, v in admitted.items() if k != key}
    if time.time() - arrived < SIGN_IN_MINUTES * 60:
        return "", arrived
    return (f"the request waited more than {SIGN_IN_MINUTES} minutes for sign-in "
            f"(IssueInstant {issue_instant})"), arrived


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


def _name_id_policy_unmet(application: SamlApplication, policy) -> str:
    """Why the request's <NameIDPolicy> cannot be met ("" when it can).

    Core 3.4.1.1: a Format other than unspecified obliges the NameID to have exactly that
    format, and an SPNameQualifier obliges the NameID's to be the same. Keystead issues
    the format the application is registered with, qualified by its own entity ID."""
    if policy is None:
        return ""
    wanted = (policy.format or "").strip()
    if wanted and wanted not in (NAMEID_FORMAT_UNSPECIFIED, application.nameid_format):
        return (f"NameIDPolicy asks for the format {wanted[:100]}; the application is "
                f"registered for {application.nameid_format}")
    qualifier = (policy.sp_name_qualifier or "").strip()
    if qualifier and qualifier != application.entity_id:
        return (f"NameIDPolicy asks for SPNameQualifier {qualifier[:100]}; Keystead issues "
                "NameIDs for the application's own entity ID only")
    return ""


def _status_answer(request: HttpRequest, application: SamlApplication, destination: str,
                   checked: AuthnRequest, relay_state: str, code: str, reason: str,
                   message: str = "", *, top: str = STATUS_RESPONDER) -> HttpResponse:
    """A signed Response with an error status (``top`` first-level, ``code``
    second-level) to the ACS, where the spec wants the SP told rather than the person
    shown a page: IsPassive and nobody (freshly enough) signed in, a NameIDPolicy, an
    authentication context or a ProtocolBinding Keystead cannot meet, a <Subject> that is
    not the signed-in person, or a request too old to answer."""
    status = Status(status_code=StatusCode(value=top, status_code=StatusCode(value=code)),
                    status_message=StatusMessage(text=message or reason))
    with idp.server(application) as server:
        # pysaml2's error responses are always Responder at the top: the status is set on
        # the unsigned response, which is then signed.
        answer = server.create_error_response(checked.message.id, destination,
                                              (code, message or reason), sign=False)
        answer.status = status
        signed = server.sign(answer, sign_alg=idp.SIGN_ALG, digest_alg=idp.DIGEST_ALG)
    audit.record("saml.sso", request=request, target=application, outcome=Outcome.FAILURE,
                 detail={"application": application.slug, "status": code,
                         "reason": reason[:300]})
    return _post_form(request, application, destination, "SAMLResponse",
                      responses.encoded(str(signed)), relay_state)


def _to_sign_in(request: HttpRequest, message: str, binding: str, relay_state: str,
                arrival: tuple[str, float], again: bool = False) -> HttpResponse:
    """The sign-in page, then back; ``again`` (ForceAuthn) shows its form even to a
    signed-in person. ``arrival``: the request's ID and when it first arrived, so that
    its IssueInstant is not held against it when it comes back (``_stale``)."""
    admitted = dict(list(request.session.get(ADMITTED, {}).items())[-4:])
    request.session[ADMITTED] = {**admitted, arrival[0]: arrival[1]}
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


def _redirect_signed(request: HttpRequest, server, application: SamlApplication) -> bool:
    """Whether an HTTP-Redirect message's query carries a valid signature by one of the
    application's signing certificates (Bindings 3.4.4.1)."""
    signed = {k: request.GET[k] for k in ("SAMLRequest", "SAMLResponse", "RelayState",
                                          "SigAlg", "Signature") if k in request.GET}
    certificates = server.metadata.certs(application.entity_id, "spsso", "signing")
    return {"Signature", "SigAlg"} <= signed.keys() and any(
        verify_redirect_signature(signed, server.sec.sec_backend, cert)
        for _, cert in certificates)


def _logout(request: HttpRequest, message: str, binding: str, relay_state: str) -> HttpResponse:
    """Single logout started by an application: end the Keystead session, pass the
    logout on to the session's other applications (``single_logout``), then answer."""
    application = None
    try:
        xml, parsed = _parsed(logout_request_from_string, message, binding, "logout request")
        if parsed is None:
            raise Refused("The logout request is not a SAML LogoutRequest.")
        application = _application_of(parsed.issuer.text if parsed.issuer else None)
        description = sp_metadata.describe(application.metadata_xml)
        sigalg = request.GET.get("SigAlg") if binding == BINDING_HTTP_REDIRECT else None
        if weak := request_checks.weak_signature(xml, sigalg):
            raise Refused("The application's logout request could not be verified.",
                          f"LogoutRequest {weak}")
        with idp.server(application, want_signed_requests=binding == BINDING_HTTP_POST) as server:
            if binding == BINDING_HTTP_REDIRECT and not _redirect_signed(request, server,
                                                                         application):
                raise Refused("The application's logout request is not signed by it.",
                              "LogoutRequest signature missing or not valid")
            try:
                checked = server.parse_logout_request(message, binding)
                if checked.message.not_on_or_after:  # pysaml2 does not look at it
                    validate_on_or_after(checked.message.not_on_or_after,
                                         idp.CLOCK_SKEW_SECONDS)
            except Exception as exc:
                raise Refused("The application's logout request could not be verified.",
                              f"{type(exc).__name__}: {exc}"[:300]) from exc
        _destined_here(checked.message)  # logout requests are always signed
        if not description.slo:
            raise Refused("The application's registration has no logout address.")
    except Refused as refused:
        return _refuse(request, refused, application, event="saml.slo")
    except sp_metadata.MetadataProblem as problem:
        return _refuse(request, Refused("The application's registration is broken.",
                                        str(problem)), application, event="saml.slo")
    person = request.user if request.user.is_authenticated else None
    stale = request_checks.issue_instant_problem(checked.message.issue_instant)
    stranger = _not_the_person(application, person, checked.message.name_id)
    status = None
    if stale:  # ends nothing: a late (or replayed) request, Requester's fault
        status = Status(status_code=StatusCode(
            value=STATUS_REQUESTER, status_code=StatusCode(value=STATUS_REQUEST_DENIED)),
            status_message=StatusMessage(text="The request is too old (or dated in "
                                              "the future)."))
        audit.record("saml.slo", request=request, target=application, outcome=Outcome.FAILURE,
                     detail={"application": application.slug,
                             "person": person.email if person else "", "reason": stale[:300]})
    elif stranger:
        # A LogoutRequest about somebody else (one captured and replayed to this browser,
        # say) ends nothing: Core 3.7.3.2, the principal is not the one it names.
        status = error_status_factory((STATUS_UNKNOWN_PRINCIPAL, "The NameID is not "
                                       "the person signed in here."))
        audit.record("saml.slo", request=request, target=application, outcome=Outcome.FAILURE,
                     detail={"application": application.slug, "person": person.email,
                             "reason": "the LogoutRequest names another person"})
    else:
        audit.record("saml.slo", request=request, target=application,
                     detail={"application": application.slug,
                             "person": person.email if person else ""})
    if person is not None and not stranger and not stale:
        chain = (single_logout.collect(request, application, request_id=checked.message.id,
                                       relay_state=relay_state)
                 if single_logout.reached_others(request, application) else None)
        audit.record("logout", request=request, target=person, detail={"door": "saml"})
        logout(request)
        if chain is not None:
            return single_logout.start(request, chain)
    return single_logout.answer(request, application, checked.message.id, status, relay_state)


def _logout_answered(request: HttpRequest, message: str, binding: str) -> HttpResponse:
    """A LogoutResponse from an application Keystead passed a logout on to: taken only
    from the application asked, to the request sent, signed by it (Profiles 4.4.4.2:
    front-channel logout responses MUST be signed), freshly issued and addressed here."""
    application = None
    try:
        asked = single_logout.waiting(request)
        if asked is None:
            raise Refused("No sign-out is in progress in this browser: there is nothing this "
                          "answer could belong to.",
                          "LogoutResponse without a pending LogoutRequest")
        application = SamlApplication.objects.filter(pk=asked["application"]).first()
        if application is None:
            raise Refused("The application asked to sign out is no longer registered.")
        xml, parsed = _parsed(logout_response_from_string, message, binding, "logout answer")
        if parsed is None:
            raise Refused("The answer is not a SAML LogoutResponse.", "not a LogoutResponse")
        issuer = (parsed.issuer.text or "").strip() if parsed.issuer is not None else ""
        if issuer != application.entity_id:
            raise Refused("The logout answer does not come from the application asked.",
                          f"LogoutResponse issued by {issuer[:200]!r}, not the application "
                          "asked")
        if parsed.in_response_to != asked["request_id"]:
            raise Refused("The logout answer is not to the request Keystead sent.",
                          f"LogoutResponse InResponseTo {str(parsed.in_response_to)[:100]!r} "
                          "is not the pending LogoutRequest")
        sigalg = request.GET.get("SigAlg") if binding == BINDING_HTTP_REDIRECT else None
        if weak := request_checks.weak_signature(xml, sigalg):
            raise Refused("The logout answer could not be verified.", f"LogoutResponse {weak}")
        with idp.server(application) as server:
            if binding == BINDING_HTTP_REDIRECT:
                verified = _redirect_signed(request, server, application)
            else:
                try:
                    verified = bool(server.sec.correctly_signed_logout_response(xml, must=True))
                except Exception:  # pysaml2's signature errors: not verified
                    verified = False
        if not verified:
            raise Refused("The logout answer is not signed by the application.",
                          "LogoutResponse signature missing or not valid")
        here = idp.endpoint("slo/redirect" if binding == BINDING_HTTP_REDIRECT else "slo/post")
        if parsed.destination != here:
            raise Refused("The logout answer could not be verified.",
                          f"LogoutResponse Destination {str(parsed.destination)[:200]!r} is "
                          "not this logout address")
        if stale := request_checks.issue_instant_problem(parsed.issue_instant):
            raise Refused("The logout answer is too old (or dated in the future).",
                          f"LogoutResponse {stale}")
    except Refused as refused:
        return _refuse(request, refused, application, event="saml.slo")
    code = parsed.status.status_code if parsed.status is not None else None
    inner = code.status_code.value if code is not None and code.status_code else ""
    succeeded = (code is not None and code.value == STATUS_SUCCESS
                 and inner != STATUS_PARTIAL_LOGOUT)
    return single_logout.answered(request, application, succeeded,
                                  " / ".join(v for v in (code.value if code else "", inner) if v))


def _subject_name_id(message):
    """An AuthnRequest's <Subject>: None when it has none, else its NameID ("" when the
    subject is named otherwise, which Keystead cannot match)."""
    if message.subject is None:
        return None
    return "" if message.subject.name_id is None else message.subject.name_id


def _not_the_person(application: SamlApplication, person, name_id, *,
                    asked: bool = False) -> bool:
    """Whether a request's NameID names someone other than the signed-in ``person``.

    LogoutRequest (Core 3.7.3.2): no one signed in means nobody to tell apart, the logout
    is already done. AuthnRequest with a <Subject> (Core 3.4.1.4, ``asked``): the
    assertion must be about that subject; a request without one (None) asks about no one
    in particular."""
    if person is None or (asked and name_id is None):
        return False
    if name_id is None or isinstance(name_id, str):  # BaseID, EncryptedID: never issued
        return True
    if name_id.format and name_id.format != application.nameid_format:
        return True
    return (name_id.text or "").strip() != release.name_id_value(application, person)


@require_GET
def slo_redirect(request: HttpRequest) -> HttpResponse:
    if "SAMLResponse" in request.GET:
        return _logout_answered(request, request.GET["SAMLResponse"], BINDING_HTTP_REDIRECT)
    return _logout(request, request.GET.get("SAMLRequest", ""), BINDING_HTTP_REDIRECT,
                   request.GET.get("RelayState", ""))


@csrf_exempt  # as sso_post: the signed message is the proof, not a form of ours
@require_http_methods(["POST"])
def slo_post(request: HttpRequest) -> HttpResponse:
    if "SAMLResponse" in request.POST:
        return _logout_answered(request, request.POST["SAMLResponse"], BINDING_HTTP_POST)
    return _logout(request, request.POST.get("SAMLRequest", ""), BINDING_HTTP_POST,
                   request.POST.get("RelayState", ""))

"""Single logout passed on to every application a Keystead session signed in to.

SAML Profiles 4.4 with front-channel bindings, as Shibboleth and Keycloak do it: when
the person signs out (at one application, or at Keystead itself), Keystead ends its own
session at once, then sends a signed LogoutRequest — naming the NameID and the
SessionIndexes it issued to that application — to each other application of the
session, one after another through the browser, and collects each LogoutResponse at its
own logout address. The application that asked first then hears Success if every other
one answered Success, else Success with PartialLogout (Core 3.7.3.2); an application
without a SingleLogoutService cannot be told, so it makes the answer partial too.

The chain lives in the (server-side) Django session: it cannot be altered by the
browser, it is bounded (``MAX_APPLICATIONS``; it lapses when an application does not
answer within ``CHAIN_MINUTES``, or when someone signs in again in that browser),
and an answer is taken only from the application that was asked, to the request that
was sent. An application that never answers leaves the browser with it; whatever
comes to Keystead's logout address later without a matching pending request is
refused (``views``).
"""

from __future__ import annotations

import time
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from saml2 import BINDING_HTTP_POST
from saml2.saml import Issuer, NameID
from saml2.samlp import (
    STATUS_PARTIAL_LOGOUT,
    STATUS_SUCCESS,
    LogoutRequest,
    Status,
    StatusCode,
)
from saml2.time_util import in_a_while

from keystead.directory import audit
from keystead.directory.models import Outcome
from keystead.providers.saml import bindings, idp, release, sp_metadata
from keystead.providers.saml.models import SamlApplication

#: Session key: the applications (by pk) this session signed in to, in that order.
ANSWERED = "saml_idp_answered"
#: Session key: application pk → the SessionIndexes its assertions gave, newest last.
ISSUED = "saml_idp_issued"
#: Session key: the logout being passed on (see ``collect``).
CHAIN = "saml_idp_logout"
#: How long a chain waits for the application it asked; after that it is dropped.
CHAIN_MINUTES = 10
#: At most this many applications are told; any more make the logout partial.
MAX_APPLICATIONS = 20
MAX_SESSION_INDEXES = 4
#: NotOnOrAfter of the LogoutRequests Keystead sends (Core 3.7.1).
REQUEST_MINUTES = 5


def remember(request: HttpRequest, application: SamlApplication, session_index: str) -> None:
    """Note that this session signed in to ``application`` with ``session_index``."""
    answered = request.session.get(ANSWERED, [])
    if application.pk not in answered:
        request.session[ANSWERED] = [*answered, application.pk]
    issued = request.session.get(ISSUED, {})
    indexes = [i for i in issued.get(str(application.pk), []) if i != session_index]
    if session_index:
        indexes = [*indexes, session_index][-MAX_SESSION_INDEXES:]
    request.session[ISSUED] = {**issued, str(application.pk): indexes}


def reached_others(request: HttpRequest, origin: SamlApplication | None) -> bool:
    """Whether this session signed in to applications other than ``origin``."""
    return any(pk != getattr(origin, "pk", None) for pk in request.session.get(ANSWERED, []))


def collect(request: HttpRequest, origin: SamlApplication | None = None, *,
            request_id: str = "", relay_state: str = "") -> dict[str, Any]:
    """The chain for the signed-in person's logout, made while they are still signed in
    (the NameIDs need them); ``origin``: the application whose LogoutRequest
    (``request_id``, ``relay_state``) started it, None for Keystead's own sign-out."""
    person = request.user
    remaining, partial = [], False
    issued = request.session.get(ISSUED, {})
    others = [pk for pk in request.session.get(ANSWERED, []) if pk != getattr(origin, "pk", None)]
    if len(others) > MAX_APPLICATIONS:
        others, partial = others[:MAX_APPLICATIONS], True
    for application in SamlApplication.objects.filter(pk__in=others, enabled=True):
        name_id = release.name_id(application, person, idp.entity_id())
        remaining.append({
            "application": application.pk,
            "name_id": {"text": name_id.text, "format": name_id.format,
                        "name_qualifier": name_id.name_qualifier,
                        "sp_name_qualifier": name_id.sp_name_qualifier},
            "session_indexes": issued.get(str(application.pk), [])})
    if len(remaining) < len(others):  # removed or disabled since: cannot be told
        partial = True
    remaining.sort(key=lambda target: others.index(target["application"]))
    return {"person": person.email, "partial": partial,
            "remaining": remaining, "waiting": None,
            "origin": None if origin is None else {
                "application": origin.pk, "request_id": request_id,
                "relay_state": relay_state}}


def for_sign_out(request: HttpRequest) -> dict[str, Any] | None:
    """Keystead's own sign-out (the portal's): the chain to start once the session has
    ended, None when this session signed in to no SAML application."""
    if not request.user.is_authenticated or not reached_others(request, None):
        return None
    return collect(request)


def start(request: HttpRequest, chain: dict[str, Any]) -> HttpResponse:
    """Begin passing the logout on (the Keystead session has ended; ``chain`` goes into
    the new, anonymous one)."""
    request.session[CHAIN] = chain
    return _next(request, chain)


def waiting(request: HttpRequest) -> dict[str, Any] | None:
    """The LogoutRequest this browser's chain waits an answer to (``application``,
    ``request_id``), None when there is none. A chain lapses when its application has
    not answered in ``CHAIN_MINUTES``, and ends when someone signs in again in this
    browser (it would otherwise go on to sign them out of applications they use now)."""
    chain = request.session.get(CHAIN)
    if not chain:
        return None
    asked = chain.get("waiting")
    if (asked is None or request.user.is_authenticated
            or time.time() - asked.get("asked_at", 0) > CHAIN_MINUTES * 60):
        del request.session[CHAIN]
        return None
    return asked


def answered(request: HttpRequest, application: SamlApplication, succeeded: bool,
             status: str) -> HttpResponse:
    """The waiting application answered (a verified LogoutResponse with ``status``):
    on to the next one."""
    chain = request.session[CHAIN]
    chain["waiting"] = None
    chain["partial"] = chain["partial"] or not succeeded
    audit.record("saml.slo", request=request, target=application,
                 outcome=Outcome.SUCCESS if succeeded else Outcome.FAILURE,
                 detail={"application": application.slug, "person": chain["person"],
                         "step": "answered", "status": status[:200]})
    return _next(request, chain)


def _next(request: HttpRequest, chain: dict[str, Any]) -> HttpResponse:
    while chain["remaining"]:
        target = chain["remaining"].pop(0)
        application = SamlApplication.objects.filter(pk=target["application"],
                                                     enabled=True).first()
        sent = _ask(request, chain, application, target) if application else None
        if sent is not None:
            return sent
        chain["partial"] = True
    request.session.pop(CHAIN, None)
    audit.record("saml.slo", request=request,
                 outcome=Outcome.FAILURE if chain["partial"] else Outcome.SUCCESS,
                 detail={"person": chain["person"], "step": "finished",
                         "partial": chain["partial"]})
    origin = chain["origin"]
    application = (SamlApplication.objects.filter(pk=origin["application"]).first()
                   if origin else None)
    if application is None:
        return redirect("login")
    status = None if not chain["partial"] else Status(status_code=StatusCode(
        value=STATUS_SUCCESS, status_code=StatusCode(value=STATUS_PARTIAL_LOGOUT)))
    try:
        return answer(request, application, origin["request_id"], status,
                      origin["relay_state"])
    except sp_metadata.MetadataProblem:  # re-registered with broken metadata meanwhile
        return redirect("login")


def _ask(request: HttpRequest, chain: dict[str, Any], application: SamlApplication,
         target: dict[str, Any]) -> HttpResponse | None:
    """The signed LogoutRequest to ``application`` (None: it has no logout address, or
    the request could not be made; audited either way)."""
    detail = {"application": application.slug, "person": chain["person"]}
    try:
        services = sp_metadata.describe(application.metadata_xml).slo
        if not services:
            raise sp_metadata.MetadataProblem("no SingleLogoutService: it cannot be told")
        binding, location = services[0]  # HTTP-Redirect first when it has both
        with idp.server(application) as server:
            request_id, message = server.create_logout_request(
                location, application.entity_id, name_id=NameID(**target["name_id"]),
                session_indexes=target["session_indexes"] or None,
                expire=in_a_while(minutes=REQUEST_MINUTES),
                sign=binding == BINDING_HTTP_POST, sign_alg=idp.SIGN_ALG,
                digest_alg=idp.DIGEST_ALG)
            sent = bindings.send(request, server, binding, application.name, str(message),
                                 location, "", response=False)
    except Exception as exc:  # broken metadata, xmlsec1: this one cannot be told
        audit.record("saml.slo", request=request, target=application, outcome=Outcome.FAILURE,
                     detail={**detail, "step": "skipped",
                             "reason": f"{type(exc).__name__}: {exc}"[:300]})
        return None
    chain["waiting"] = {"application": application.pk, "request_id": request_id,
                        "asked_at": time.time()}
    request.session[CHAIN] = chain
    audit.record("saml.slo", request=request, target=application,
                 detail={**detail, "step": "asked", "binding": binding})
    return sent


def answer(request: HttpRequest, application: SamlApplication, request_id: str,
           status: Status | None, relay_state: str) -> HttpResponse:
    """The signed LogoutResponse (``status``; None: Success) to ``application``'s
    LogoutRequest ``request_id``, at its ResponseLocation (else Location), by the first
    binding its metadata lists; Keystead's sign-in page when it has no logout address
    any more."""
    description = sp_metadata.describe(application.metadata_xml)
    if not description.slo:
        return redirect("login")
    binding = description.slo[0][0]
    # pysaml2 answers a request it parsed; one remembered by its ID and issuer is enough.
    asked = LogoutRequest(id=request_id, issuer=Issuer(text=application.entity_id))
    with idp.server(application) as server:
        response = server.create_logout_response(
            asked, [b for b, _ in description.slo], status=status,
            sign=binding == BINDING_HTTP_POST,  # Redirect: the query is signed instead
            sign_alg=idp.SIGN_ALG, digest_alg=idp.DIGEST_ALG)
        return bindings.send(request, server, binding, application.name, str(response),
                             dict(description.slo_responses)[binding], relay_state,
                             response=True)

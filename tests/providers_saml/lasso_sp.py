"""A SAML service provider built on Entr'ouvert's lasso, run by the system Python.

lasso shares no code with pysaml2 (C, with its own use of xmlsec), so Keystead's IdP
is judged by an independent peer. Debian's ``python3-lasso`` is importable only by
``/usr/bin/python3``, so the tests run this file as a subprocess; every command
prints one JSON object on stdout.

Commands (all take ``--dir``, a directory holding ``sp.xml``, ``sp-key.pem``,
``sp-cert.pem`` and ``idp.xml``):

- ``metadata ENTITY_ID ACS SLO [--sign-requests] [--requested a,b] [--slo-response URL]
  [--no-slo] [--slo-post]``: write ``sp.xml`` (``--slo-response``: the logout service's
  ResponseLocation; ``--no-slo``: no logout service at all; ``--slo-post``: it takes
  HTTP-POST rather than HTTP-Redirect)
- ``request redirect|post [--relay-state R] [--acs-url U] [--acs-index I] [--force-authn]
  [--passive] [--nameid-format F] [--subject NAMEID] [--authn-context C,C
  [--comparison exact|minimum|maximum|better]]``: an AuthnRequest (NameIDPolicy
  Format F, persistent unless given; ``none``: no Format; ``--subject``: asking for the
  person with that NameID, in format F; ``--authn-context``: a RequestedAuthnContext
  with those classes) [--protocol-binding URI] [--sha1] [--issued SECONDS]; ``url``,
  ``body`` (POST) and ``id``; ``--sha1``: signed with RSA-SHA1 (and SHA-1 digests),
  ``--issued``: IssueInstant that many seconds from now (negative: in the past)
- ``response SAMLRESPONSE``: verify and read a Response: ``name_id``, ``format``,
  ``attributes``, ``session`` (a dump for logout)
- ``logout SESSION [--post] [--expired] [--sha1] [--issued SECONDS]``: a LogoutRequest
  over HTTP-Redirect (or POST): ``url`` (and ``body``); ``--expired``: its NotOnOrAfter
  passed ten minutes ago
- ``logout-response QUERY``: verify the IdP's LogoutResponse (HTTP-Redirect query)
- ``answer-logout MESSAGE [--session SESSION] [--in-response-to ID] [--sha1]``: verify a
  LogoutRequest the IdP sent (an HTTP-Redirect query, or an HTTP-POST form value),
  validate it against the SP's session (``validated``: whether its NameID and
  SessionIndex are the session's), and answer it by the same binding: ``url`` (and
  ``body`` for HTTP-POST), ``request_id``, ``name_id``, ``session_indexes``;
  ``--in-response-to``: the answer names another request
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import lasso

SP_METADATA = """<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:SPSSODescriptor AuthnRequestsSigned="{signed}" WantAssertionsSigned="false"
      protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>
      <ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data>
      <ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
{slo}
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:AssertionConsumerService index="0" isDefault="true"
        Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}"/>{requested}
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"""


def server(directory: Path, sha1: bool = False) -> lasso.Server:
    sp = lasso.Server(str(directory / "sp.xml"), str(directory / "sp-key.pem"), None,
                      str(directory / "sp-cert.pem"))
    sp.signatureMethod = (lasso.SIGNATURE_METHOD_RSA_SHA1 if sha1
                          else lasso.SIGNATURE_METHOD_RSA_SHA256)
    sp.addProvider(lasso.PROVIDER_ROLE_IDP, str(directory / "idp.xml"))
    return sp


def idp_entity_id(sp: lasso.Server) -> str:
    return next(iter(sp.providerIds))


def instant(seconds_from_now: int) -> str:
    at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds_from_now)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def metadata(directory: Path, args: argparse.Namespace) -> dict:
    body = "".join(line for line in (directory / "sp-cert.pem").read_text().splitlines()
                   if "-----" not in line)
    requested = ""
    if args.requested:
        wanted = "".join(
            f'<md:RequestedAttribute Name="{name}" isRequired="true" NameFormat='
            '"urn:oasis:names:tc:SAML:2.0:attrname-format:uri"/>'
            for name in args.requested.split(","))
        requested = (f'<md:AttributeConsumingService index="0"><md:ServiceName xml:lang="en">'
                     f'SP</md:ServiceName>{wanted}</md:AttributeConsumingService>')
    slo_response = f' ResponseLocation="{args.slo_response}"' if args.slo_response else ""
    binding = "HTTP-POST" if args.slo_post else "HTTP-Redirect"
    slo = ("" if args.no_slo else
           '    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:'
           f'{binding}"\n        Location="{args.slo}"{slo_response}/>')
    xml = SP_METADATA.format(entity_id=args.entity_id, acs=args.acs, slo=slo, cert=body,
                             signed="true" if args.sign_requests else "false",
                             requested=requested)
    (directory / "sp.xml").write_text(xml)
    return {"metadata": xml}


def request(directory: Path, args: argparse.Namespace) -> dict:
    sp = server(directory, args.sha1)
    login = lasso.Login(sp)
    method = lasso.HTTP_METHOD_REDIRECT if args.binding == "redirect" else lasso.HTTP_METHOD_POST
    login.initAuthnRequest(idp_entity_id(sp), method)
    login.request.nameIdPolicy.format = (None if args.nameid_format == "none"
                                          else args.nameid_format)
    login.request.nameIdPolicy.allowCreate = True
    if args.relay_state:
        login.msgRelayState = args.relay_state
    if args.acs_url:
        login.request.assertionConsumerServiceURL = args.acs_url
    if args.acs_index is not None:
        login.request.assertionConsumerServiceIndex = args.acs_index
    if args.subject:
        subject = lasso.Saml2Subject()
        subject.nameId = lasso.Saml2NameID()
        subject.nameId.content = args.subject
        subject.nameId.format = login.request.nameIdPolicy.format
        login.request.subject = subject
    if args.authn_context:
        requested = lasso.Samlp2RequestedAuthnContext()
        requested.authnContextClassRef = tuple(args.authn_context.split(","))
        if args.comparison:
            requested.comparison = args.comparison
        login.request.requestedAuthnContext = requested
    login.request.forceAuthn = args.force_authn
    login.request.isPassive = args.passive
    if args.protocol_binding:
        login.request.protocolBinding = args.protocol_binding
    if args.issued is not None:
        login.request.issueInstant = instant(args.issued)
    login.buildAuthnRequestMsg()
    return {"url": login.msgUrl, "body": login.msgBody or "", "id": login.request.iD}


def response(directory: Path, args: argparse.Namespace) -> dict:
    sp = server(directory)
    login = lasso.Login(sp)
    # lasso's default: a signature present must verify, and a response whose message
    # is not signed must carry signed assertions.
    login.processAuthnResponseMsg(args.saml_response)
    login.acceptSso()
    assertion = login.assertion
    name_id = assertion.subject.nameId
    attributes: dict[str, list[str]] = {}
    for statement in assertion.attributeStatement or []:
        for attribute in statement.attribute or []:
            values = attributes.setdefault(attribute.name, [])
            for value in attribute.attributeValue or []:
                values.append("".join(node.content for node in value.any or []))
    return {"name_id": name_id.content, "format": name_id.format,
            "sp_name_qualifier": name_id.spNameQualifier,
            "issuer": login.remoteProviderId, "attributes": attributes,
            "audience": [r.audience for r in assertion.conditions.audienceRestriction],
            "in_response_to": login.response.inResponseTo,
            "session": login.session.dump()}


def logout(directory: Path, args: argparse.Namespace) -> dict:
    sp = server(directory, args.sha1)
    request = lasso.Logout(sp)
    request.setSessionFromDump(args.session)
    method = lasso.HTTP_METHOD_POST if args.post else lasso.HTTP_METHOD_REDIRECT
    request.initRequest(idp_entity_id(sp), method)
    if args.expired:
        past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)
        request.request.notOnOrAfter = past.strftime("%Y-%m-%dT%H:%M:%SZ")
    if args.issued is not None:
        request.request.issueInstant = instant(args.issued)
    request.buildRequestMsg()
    return {"url": request.msgUrl, "body": request.msgBody or ""}


def answer_logout(directory: Path, args: argparse.Namespace) -> dict:
    """Verify the IdP's LogoutRequest, check it against the SP's session, and answer it
    (lasso answers by the binding the request came by)."""
    sp = server(directory, args.sha1)
    answer = lasso.Logout(sp)
    answer.processRequestMsg(args.query)  # verifies the IdP's signature
    asked = answer.request
    found = {"request_id": asked.iD, "issuer": answer.remoteProviderId,
             "name_id": asked.nameId.content, "name_id_format": asked.nameId.format,
             "session_indexes": list(asked.sessionIndexes or ()),
             "destination": asked.destination}
    if args.session:
        answer.setSessionFromDump(args.session)
    try:
        answer.validateRequest()  # the NameID and SessionIndex of this SP's session
        found["validated"] = True
    except lasso.Error as exc:
        found["validated"] = False
        found["validate_error"] = f"{type(exc).__name__}: {exc}"
    if args.in_response_to:
        answer.response.inResponseTo = args.in_response_to
    answer.buildResponseMsg()
    found["url"] = answer.msgUrl
    found["body"] = answer.msgBody or ""  # when the request came by HTTP-POST
    return found


def logout_response(directory: Path, args: argparse.Namespace) -> dict:
    sp = server(directory)
    answer = lasso.Logout(sp)
    answer.processResponseMsg(args.query)
    return {"status": "success", "issuer": answer.remoteProviderId}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True, type=Path)
    commands = parser.add_subparsers(dest="command", required=True)
    md = commands.add_parser("metadata")
    md.add_argument("entity_id")
    md.add_argument("acs")
    md.add_argument("slo")
    md.add_argument("--sign-requests", action="store_true")
    md.add_argument("--requested", default="", help="attribute names the SP asks for, a,b")
    md.add_argument("--slo-response", default="", help="ResponseLocation of the SLO service")
    md.add_argument("--no-slo", action="store_true", help="no SingleLogoutService at all")
    md.add_argument("--slo-post", action="store_true", help="the SLO service is HTTP-POST")
    rq = commands.add_parser("request")
    rq.add_argument("binding", choices=["redirect", "post"])
    rq.add_argument("--relay-state", default="")
    rq.add_argument("--acs-url", default="")
    rq.add_argument("--acs-index", type=int, default=None)
    rq.add_argument("--force-authn", action="store_true")
    rq.add_argument("--passive", action="store_true")
    rq.add_argument("--nameid-format", default=lasso.SAML2_NAME_IDENTIFIER_FORMAT_PERSISTENT)
    rq.add_argument("--subject", default="")
    rq.add_argument("--authn-context", default="")
    rq.add_argument("--comparison", default="")
    rq.add_argument("--protocol-binding", default="")
    rq.add_argument("--sha1", action="store_true", help="sign with RSA-SHA1")
    rq.add_argument("--issued", type=int, default=None, help="IssueInstant, s from now")
    commands.add_parser("response").add_argument("saml_response")
    lo = commands.add_parser("logout")
    lo.add_argument("session")
    lo.add_argument("--post", action="store_true", help="HTTP-POST instead of HTTP-Redirect")
    lo.add_argument("--expired", action="store_true")
    lo.add_argument("--sha1", action="store_true", help="sign with RSA-SHA1")
    lo.add_argument("--issued", type=int, default=None, help="IssueInstant, s from now")
    commands.add_parser("logout-response").add_argument("query")
    al = commands.add_parser("answer-logout")
    al.add_argument("query", help="the HTTP-Redirect query, or the POST form's SAMLRequest")
    al.add_argument("--session", default="", help="the SP's session dump (from response)")
    al.add_argument("--in-response-to", default="", help="answer naming another request")
    al.add_argument("--sha1", action="store_true", help="sign with RSA-SHA1")
    args = parser.parse_args()
    handlers = {"metadata": metadata, "request": request, "response": response,
                "logout": logout, "logout-response": logout_response,
                "answer-logout": answer_logout}
    try:
        result = handlers[args.command](args.dir, args)
    except lasso.Error as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}", "code": exc.code}))
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

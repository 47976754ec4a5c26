"""Keystead as a SAML service provider, through pysaml2.

The pysaml2 configuration is built for each request from the source's row, so
a change in the console applies to the next sign-in in every process. SHA-256
is passed for every signature and digest, and responses that use SHA-1 or a
non-AES cipher are refused: pysaml2 would otherwise default to SHA-1 and 3DES.

xmlsec1 reads keys from files, so the SP key pair is written for the length of
one request into a private temporary directory (mode 0700, file mode 0600) and
removed afterwards; it is never written anywhere else in clear.
"""

from __future__ import annotations

import base64
import datetime
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from defusedxml import ElementTree
from django.conf import settings
from django.urls import reverse
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor, sign_entity_descriptor
from saml2.saml import (
    NAMEID_FORMAT_EMAILADDRESS,
    NAMEID_FORMAT_PERSISTENT,
    NAMEID_FORMAT_UNSPECIFIED,
    SCM_BEARER,
)
from saml2.sigver import security_context
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from keystead.saml_algorithms import weak_signing_algorithm
from keystead.sources.saml import certificates, idp_metadata
from keystead.sources.saml.models import Binding, SamlSource, UserKey
from keystead.xmlsec_files import key_pair_files

XMLSEC1 = shutil.which("xmlsec1") or "/usr/bin/xmlsec1"
#: Clock difference tolerated between the IdP and Keystead, in seconds.
CLOCK_SKEW_SECONDS = 90

#: Ciphers accepted for encrypted assertions (the data, and the key transport).
ACCEPTED_ENCRYPTION = frozenset({
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes192-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2009/xmlenc11#aes192-gcm",
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
    "http://www.w3.org/2009/xmlenc11#rsa-oaep",
})
#: The NameIDPolicy asked of the IdP for each user key (the attribute key names the
#: person by an attribute, so any NameID will do).
NAMEID_POLICY = {
    UserKey.PERSISTENT: NAMEID_FORMAT_PERSISTENT,
    UserKey.EMAIL: NAMEID_FORMAT_EMAILADDRESS,
    UserKey.UNSPECIFIED: NAMEID_FORMAT_UNSPECIFIED,
}
_XENC = "{http://www.w3.org/2001/04/xmlenc#}"


class InvalidTicket(Exception):
    """The response is refused. ``reason`` is for the audit log and the status page only;
    the person sees "Invalid ticket"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    """What a verified assertion says about the person."""

    name_id: str
    name_id_format: str
    attributes: dict[str, list[str]]
    assertion_id: str
    issuer: str
    expires_at: datetime.datetime
    next_url: str


def base_url() -> str:
    return settings.BASE_URL.rstrip("/")


def entity_id() -> str:
    """Keystead's SP entity id: the metadata address, stable for the installation."""
    return base_url() + reverse("saml_source:metadata")


def acs_url() -> str:
    return base_url() + reverse("saml_source:acs")


def idp_document(source: SamlSource) -> str:
    """The IdP metadata pysaml2 trusts, written from the source's current fields."""
    checked = certificates.check_certificates(
        source.certificate, datetime.datetime.now(datetime.UTC))
    sso = {source.sso_binding: source.sso_url} if source.sso_url else {}
    return idp_metadata.written(source.idp_entity_id, sso, list(checked.certificates))


@contextmanager
def client_for(source: SamlSource, *, with_idp: bool = True) -> Iterator[Saml2Client]:
    """A pysaml2 client configured from ``source`` for one request."""
    key = source.sp_private_key
    if key is None or not source.sp_certificate:
        raise InvalidTicket("the source has no SP key pair; save it again in the console")
    with key_pair_files(key, source.sp_certificate) as (key_file, cert_file):
        config = SPConfig()
        config.load({
            "entityid": entity_id(),
            "xmlsec_binary": XMLSEC1,
            "key_file": str(key_file),
            "cert_file": str(cert_file),
            "encryption_keypairs": [{"key_file": str(key_file), "cert_file": str(cert_file)}],
            "metadata": {"inline": [idp_document(source)]} if with_idp else {},
            "accepted_time_diff": CLOCK_SKEW_SECONDS,
            "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
            "allow_unknown_attributes": True,
            "service": {"sp": {
                "name": "Keystead",
                "endpoints": {"assertion_consumer_service": [(acs_url(), BINDING_HTTP_POST)]},
                "allow_unsolicited": False,
                "authn_requests_signed": True,
                "want_response_signed": False,
                "want_assertions_signed": False,
                "want_assertions_or_response_signed": True,
                "name_id_format": [NAMEID_POLICY[source.user_key]],
                "name_id_policy_format": NAMEID_POLICY[source.user_key],
                "name_id_format_allow_create": True,
            }},
        })
        yield Saml2Client(config)


def metadata(source: SamlSource) -> str:
    """Keystead's SP metadata, signed with its own key (RSA-SHA256, SHA-256 digest)."""
    with client_for(source, with_idp=False) as client:
        descriptor = entity_descriptor(client.config)
        # pysaml2 lists every algorithm xmlsec1 knows (MD5, SHA-1 …) as supported;
        # Keystead refuses those, so the list would mislead: it is left out.
        descriptor.extensions = None
        _signed, xml = sign_entity_descriptor(descriptor, None, security_context(client.config),
                                              SIG_RSA_SHA256, DIGEST_SHA256)
    return xml.decode() if isinstance(xml, bytes) else xml


@dataclass(frozen=True)
class Outgoing:
    """A signed AuthnRequest on its way to the IdP: a redirect address, or a form to post."""

    request_id: str
    redirect_to: str = ""
    post_to: str = ""
    post_fields: tuple[tuple[str, str], ...] = ()


def authn_request(source: SamlSource, relay_state: str) -> Outgoing:
    """A new signed AuthnRequest over the source's binding."""
    with client_for(source) as client:
        if source.sso_binding == Binding.POST:
            request_id, request = client.create_authn_request(
                destination=source.sso_url, binding=BINDING_HTTP_POST, sign=True,
                sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
            encoded = base64.b64encode(str(request).encode()).decode()
            return Outgoing(request_id, post_to=source.sso_url,
                            post_fields=(("SAMLRequest", encoded), ("RelayState", relay_state)))
        request_id, _binding, info = client.prepare_for_negotiated_authenticate(
            entityid=source.idp_entity_id, relay_state=relay_state,
            binding=BINDING_HTTP_REDIRECT, sign=True, sigalg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256)
        location = dict(info["headers"])["Location"]
        return Outgoing(request_id, redirect_to=location)


def _algorithms_problem(xml: bytes) -> str | None:
    """Refuse SHA-1/MD5 signatures and non-AES encryption before pysaml2 reads further."""
    try:
        root = ElementTree.fromstring(xml)
    except Exception:  # defusedxml raises its own kinds for entities and malformed XML
        return "the response is not well-formed XML (or uses DTDs/entities)"
    if (algorithm := weak_signing_algorithm(root)) is not None:
        return f"the response is signed with a weak algorithm ({algorithm}); " \
               "configure the IdP for RSA-SHA256"
    for element in root.iter(f"{_XENC}EncryptionMethod"):
        algorithm = element.get("Algorithm", "")
        if algorithm not in ACCEPTED_ENCRYPTION:
            return f"the assertion is encrypted with {algorithm}, not AES; configure the IdP " \
                   "for AES-256"
    return None


def _reason(exc: Exception) -> str:
    """A short, administrator-facing reason for a pysaml2 refusal."""
    from saml2.response import (
        IncorrectlySigned,
        StatusError,
        UnsolicitedResponse,
        VerificationError,
    )
    from saml2.sigver import SignatureError
    from saml2.validate import NotValid, ResponseLifetimeExceed, ToEarly

    text = str(exc)[:300]
    if isinstance(exc, SignatureError | IncorrectlySigned):
        return ("signature not valid: the response was changed, or signed by a key that is "
                "not the IdP certificate configured here")
    if isinstance(exc, ResponseLifetimeExceed):
        return f"expired: the assertion's NotOnOrAfter has passed ({text})"
    if isinstance(exc, ToEarly):
        return f"not yet valid: the assertion's NotBefore is in the future ({text})"
    if isinstance(exc, UnsolicitedResponse):
        return ("InResponseTo does not match a sign-in started in this browser (unsolicited, "
                "or started in another browser)")
    if isinstance(exc, StatusError):
        return f"the IdP refused the sign-in: {text}"
    if "AudienceRestrictions" in text:
        return f"wrong audience: the assertion is not for {entity_id()}"
    if isinstance(exc, VerificationError):
        return f"subject confirmation failed (recipient or time): {text}"
    if isinstance(exc, NotValid):
        return f"the response is not valid SAML: {text}"
    return f"the response was refused: {type(exc).__name__}: {text}"


def _audience_problem(assertion) -> str | None:
    """Profiles 4.1.4.2: the assertion MUST carry an <AudienceRestriction> naming this SP.
    pysaml2 accepts an assertion without one, and several restrictions when any one of
    them names the SP, whereas each must be satisfied (Core 2.5.1.4)."""
    restrictions = assertion.conditions.audience_restriction if assertion.conditions else []
    if not restrictions:
        return (f"wrong audience: the assertion has no AudienceRestriction; it must name "
                f"{entity_id()}")
    for restriction in restrictions:
        audiences = [(a.text or "").strip() for a in restriction.audience or []]
        if entity_id() not in audiences:
            return f"wrong audience: the assertion is also restricted to {audiences!r}, " \
                   f"not {entity_id()}"
    return None


def _confirmation_problem(assertion) -> str | None:
    """Profiles 4.1.4.2: a bearer <SubjectConfirmation> whose data names this ACS as its
    Recipient and has a NotOnOrAfter (pysaml2 checks the times and InResponseTo, but
    compares the Recipient only when given conversation details)."""
    confirmations = assertion.subject.subject_confirmation if assertion.subject else []
    bearer = [c for c in confirmations or [] if c.method == SCM_BEARER]
    if not bearer:
        methods = sorted({str(c.method) for c in confirmations or []})
        return (f"subject confirmation failed: the assertion is confirmed by {methods}, not "
                "bearer, which is what Web Browser SSO uses")
    for confirmation in bearer:
        data = confirmation.subject_confirmation_data
        if data is not None and data.recipient == acs_url() and data.not_on_or_after:
            return None
    recipients = [c.subject_confirmation_data.recipient for c in bearer
                  if c.subject_confirmation_data is not None]
    return (f"subject confirmation failed: no bearer confirmation has the Recipient "
            f"{acs_url()} and a NotOnOrAfter (Recipient {recipients!r})")[:500]


def verify(source: SamlSource, encoded: str, outstanding: dict[str, str]) -> Verified:
    """Check a POSTed SAMLResponse completely; raise ``InvalidTicket`` with the reason."""
    if not encoded:
        raise InvalidTicket("no SAMLResponse in the request")
    try:
        xml = base64.b64decode(encoded, validate=False)
    except ValueError as exc:
        raise InvalidTicket("the SAMLResponse is not base64") from exc
    if (problem := _algorithms_problem(xml)) is not None:
        raise InvalidTicket(problem)
    with client_for(source) as client:
        try:
            response = client.parse_authn_request_response(
                encoded, BINDING_HTTP_POST, outstanding=outstanding)
        except Exception as exc:  # pysaml2 signals every refusal by an exception
            raise InvalidTicket(_reason(exc)) from exc
    if response is None:
        raise InvalidTicket("the response could not be read")
    # An encrypted assertion's own signature was out of sight above: look again, decrypted.
    decrypted = response.xmlstr
    if (problem := _algorithms_problem(
            decrypted.encode() if isinstance(decrypted, str) else decrypted)) is not None:
        raise InvalidTicket(problem)
    destination = response.response.destination
    if destination != acs_url():
        raise InvalidTicket(f"wrong Destination {destination!r}; expected {acs_url()}")
    assertion = response.assertion
    if response.issuer() != source.idp_entity_id:
        raise InvalidTicket(f"issued by {response.issuer()!r}, not {source.idp_entity_id!r}")
    if assertion is None:  # nothing signed either: pysaml2 checks signatures on assertions
        raise InvalidTicket("the response holds no assertion")
    if (problem := _audience_problem(assertion) or _confirmation_problem(assertion)) is not None:
        raise InvalidTicket(problem)
    attributes: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement or []:
        for attribute in statement.attribute:
            values = [str(v.text).strip() for v in attribute.attribute_value if v.text]
            attributes.setdefault(attribute.name, []).extend(values)
            if attribute.friendly_name:
                attributes.setdefault(attribute.friendly_name, []).extend(values)
    name_id = response.name_id
    conditions = assertion.conditions
    confirmations = [sc.subject_confirmation_data.not_on_or_after
                     for sc in assertion.subject.subject_confirmation
                     if sc.subject_confirmation_data is not None
                     and sc.subject_confirmation_data.not_on_or_after]
    ends = [t for t in (conditions.not_on_or_after if conditions else None, *confirmations)
            if t]
    if not ends:
        raise InvalidTicket("the assertion has no NotOnOrAfter, so its one-time use cannot be "
                            "enforced")
    from saml2.time_util import str_to_time

    expires_at = min(datetime.datetime(*str_to_time(t)[:6], tzinfo=datetime.UTC) for t in ends)
    return Verified(
        name_id=(name_id.text or "").strip() if name_id is not None else "",
        name_id_format=(name_id.format or "") if name_id is not None else "",
        attributes=attributes,
        assertion_id=assertion.id,
        issuer=response.issuer(),
        expires_at=expires_at + datetime.timedelta(seconds=CLOCK_SKEW_SECONDS),
        next_url=response.came_from or "",
    )

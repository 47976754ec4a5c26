"""The identity provider's metadata: read from a document, or written from the fields.

pysaml2 learns about the IdP only from metadata. An operator may give a
metadata URL or XML (entity id, SSO addresses and signing certificates are read
from it), or just the entity id, SSO address and certificate(s); in that case
the same document is written from those fields, so pysaml2 always trusts
exactly the certificates the source shows.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, md
from saml2.metadata import do_key_descriptor

from keystead.metadata_download import MetadataProblem
from keystead.sources.saml import certificates
from keystead.web_address import is_web_address


@dataclass(frozen=True)
class IdpInfo:
    entity_id: str
    sso: dict[str, str]  # binding -> address
    certificates: tuple[str, ...]  # PEM, signing use


def _entity(xml: str) -> md.EntityDescriptor:
    try:
        entity = md.entity_descriptor_from_string(xml)
        if entity is None:
            group = md.entities_descriptor_from_string(xml)
            found = [e for e in (group.entity_descriptor if group else [])
                     if e.idpsso_descriptor]
            entity = found[0] if found else None
    except Exception as exc:  # pysaml2 raises several kinds for malformed XML
        raise MetadataProblem(f"The IdP metadata is not a SAML metadata document ({exc}); "
                              "download it again from the identity provider.") from exc
    if entity is None or not entity.idpsso_descriptor:
        raise MetadataProblem("The IdP metadata describes no identity provider "
                              "(no IDPSSODescriptor); check that it is the IdP's metadata, "
                              "not a service provider's.")
    if not entity.entity_id:  # required, but pysaml2 reads a document without it
        raise MetadataProblem("The IdP metadata's EntityDescriptor has no entityID: download "
                              "the metadata again from the identity provider.")
    return entity


def read(xml: str) -> IdpInfo:
    """Entity id, SSO addresses and signing certificates of the IdP the document describes."""
    entity = _entity(xml)
    descriptor = entity.idpsso_descriptor[0]
    sso = {s.binding: _location(s) for s in descriptor.single_sign_on_service
           if s.binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST)}
    pems = []
    for key in descriptor.key_descriptor:
        if key.use not in (None, "", "signing"):
            continue
        for data in key.key_info.x509_data if key.key_info else []:
            text = "".join((data.x509_certificate.text or "").split())
            if text:
                pems.append(certificates.pem_of(_der(text)))
    if not sso:
        raise MetadataProblem("The IdP metadata has no SingleSignOnService for HTTP-Redirect or "
                              "HTTP-POST; Keystead needs one of them.")
    if not pems:
        raise MetadataProblem("The IdP metadata holds no signing certificate; paste the "
                              "certificate into 'SAML certificate' instead.")
    return IdpInfo(entity.entity_id, sso, tuple(dict.fromkeys(pems)))


def _location(service: md.SingleSignOnService) -> str:
    """The address of a SingleSignOnService Keystead may use; the attribute is required,
    but pysaml2 reads a document without it."""
    if not service.location:
        raise MetadataProblem(f"The IdP metadata's SingleSignOnService for {service.binding} "
                              "has no Location: download the metadata again, or type the "
                              "SSO address and leave the metadata empty.")
    if not is_web_address(service.location):
        raise MetadataProblem(f"The IdP metadata's SingleSignOnService for {service.binding} "
                              f"is not an http or https address ({service.location[:80]!r}): "
                              "check that this is the identity provider's metadata.")
    return service.location


def _der(text: str) -> bytes:
    """A certificate from an X509Certificate element, whose text must be base64."""
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise MetadataProblem("A signing certificate in the IdP metadata (X509Certificate) is "
                              "not base64 (a stray character, or its length is wrong): download "
                              "the metadata again, or paste the certificate into 'SAML "
                              "certificate' instead.") from None


def written(entity_id: str, sso: dict[str, str], certificate_ders: list[bytes]) -> str:
    """A metadata document for an IdP known only by its fields."""
    descriptor = md.IDPSSODescriptor(
        protocol_support_enumeration="urn:oasis:names:tc:SAML:2.0:protocol",
        want_authn_requests_signed="true",
        key_descriptor=do_key_descriptor(
            cert=[certificates.base64_of(der) for der in certificate_ders], use="signing"),
        single_sign_on_service=[md.SingleSignOnService(binding=binding, location=location)
                                for binding, location in sso.items()],
    )
    return str(md.EntityDescriptor(entity_id=entity_id, idpsso_descriptor=[descriptor]))

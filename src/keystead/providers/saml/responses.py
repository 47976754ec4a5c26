"""Building the <Response> an application receives: signed and encrypted as it is set to be.

Unencrypted responses are pysaml2's own, with RSA-SHA256/SHA-256 passed in. For
encrypted assertions pysaml2 would use 3DES (its ``_encrypt_assertion`` has the
algorithm fixed), so the same steps are taken here with pysaml2's public pieces
(``pre_signature_part``, ``pre_encrypt_assertion``, ``signed_instance_factory``,
``SecurityContext.encrypt_assertion``) and the application's AES-256 algorithm, the
key sent with RSA-OAEP: the assertion is signed, then encrypted, then the response
is signed around it.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import tempfile
from dataclasses import dataclass

from django.utils import timezone
from saml2 import class_name
from saml2.samlp import response_from_string
from saml2.server import Server
from saml2.sigver import (
    RSA_OAEP_MGF1P,
    get_pem_wrapped_unwrapped,
    pre_encrypt_assertion,
    pre_encryption_part,
    pre_signature_part,
    signed_instance_factory,
)

from keystead.directory.models import User
from keystead.providers.saml import idp, release
from keystead.providers.saml.models import SamlApplication

SESSION_KEY_TYPE = "aes-256"  # xmlsec1's name for a new 256-bit AES session key


class CannotEncrypt(ValueError):
    """The application wants encrypted assertions but its metadata has no encryption key."""


@dataclass(frozen=True)
class Issued:
    """A Response made for an application, and the SessionIndex its AuthnStatement gives
    (pysaml2 draws a fresh one for each assertion; single logout must name it back)."""

    xml: str
    session_index: str


def authn_response(server: Server, application: SamlApplication, user: User, *,
                   in_response_to: str | None, destination: str,
                   authenticated_at: dt.datetime | None = None,
                   class_ref: str = idp.AUTHN_CLASS) -> Issued:
    """The Response for ``user`` at ``application``'s ACS ``destination``.

    ``class_ref``: the authentication context class the assertion states (see
    ``authn_context``; a password sign-in unless said otherwise).

    ``authenticated_at``: when the person signed in (the AuthnInstant, Core 2.7.2: the time
    the authentication took place, which SPs compare with ForceAuthn and their own
    maximum age), not when this response is made; unknown: now."""
    common = {
        "identity": release.attributes(application, user),
        "in_response_to": in_response_to,
        "destination": destination,
        "sp_entity_id": application.entity_id,
        "name_id": release.name_id(application, user, idp.entity_id()),
        "authn": {"class_ref": class_ref, "authn_auth": idp.entity_id(),
                  "authn_instant": int((authenticated_at or timezone.now()).timestamp())},
        "sign_alg": idp.SIGN_ALG,
        "digest_alg": idp.DIGEST_ALG,
        "encrypt_assertion": False,
    }
    if not application.encryption:
        answer = str(server.create_authn_response(sign_response=application.sign_response,
                                                  sign_assertion=application.sign_assertion,
                                                  **common))
        return Issued(answer, _session_index(response_from_string(answer)))
    unsigned = server.create_authn_response(sign_response=False, sign_assertion=False,
                                            **common)
    if isinstance(unsigned, str):
        unsigned = response_from_string(unsigned)
    session_index = _session_index(unsigned)  # read before the assertion is encrypted
    return Issued(_encrypted(server, application, unsigned), session_index)


def _session_index(response) -> str:
    """The SessionIndex of a (not yet encrypted) Response's one AuthnStatement; the
    assertion is one element as pysaml2 builds it, a list as its parser reads it."""
    assertion = response.assertion
    if isinstance(assertion, list):
        assertion = assertion[0] if assertion else None
    statements = (assertion.authn_statement or []) if assertion is not None else []
    return str(statements[0].session_index or "") if statements else ""


def _encryption_certificate(server: Server, application: SamlApplication) -> str:
    found = server.metadata.certs(application.entity_id, "spsso", "encryption")
    if not found:
        raise CannotEncrypt(f"{application.name}: encrypted assertions are on but the SP's "
                            "metadata has no encryption certificate.")
    return found[0][1]


def _encrypted(server: Server, application: SamlApplication, unsigned) -> str:
    response = unsigned
    my_cert = server.sec.my_cert
    to_sign = []
    if application.sign_assertion:
        assertion = response.assertion
        assertion.signature = pre_signature_part(assertion.id, my_cert, 2,
                                                 sign_alg=idp.SIGN_ALG, digest_alg=idp.DIGEST_ALG)
        to_sign.append((class_name(assertion), assertion.id))
    if application.sign_response:
        response.signature = pre_signature_part(response.id, my_cert, 1,
                                                sign_alg=idp.SIGN_ALG, digest_alg=idp.DIGEST_ALG)
    assertion_tag = response.assertion._to_element_tree().tag
    response_id, response_class = response.id, class_name(response)
    response = pre_encrypt_assertion(response)
    xml = response.get_xml_string_with_self_contained_assertion_within_encrypted_assertion(
        assertion_tag)
    if to_sign:
        xml = signed_instance_factory(xml, server.sec, to_sign)
    wrapped, unwrapped = get_pem_wrapped_unwrapped(_encryption_certificate(server, application))
    fd, cert_path = tempfile.mkstemp(prefix="keystead-saml-enc-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(wrapped)
        template = pre_encryption_part(msg_enc=application.encryption, key_enc=RSA_OAEP_MGF1P,
                                       encrypt_cert=unwrapped)
        xml = server.sec.encrypt_assertion(xml, cert_path, template, key_type=SESSION_KEY_TYPE)
    finally:
        os.unlink(cert_path)
    if application.sign_response:
        xml = signed_instance_factory(xml, server.sec, [(response_class, response_id)])
    return xml if isinstance(xml, str) else xml.decode()


def encoded(xml: str) -> str:
    """The HTTP-POST binding's form value."""
    return base64.b64encode(xml.encode()).decode("ascii")

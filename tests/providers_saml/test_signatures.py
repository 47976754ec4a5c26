"""What signs and what encrypts: per-application choices, checked by lasso and xmlsec1."""

from __future__ import annotations

import base64
import datetime as dt
import re
import subprocess
from pathlib import Path
from xml.etree.ElementTree import Element

import pytest
from defusedxml import ElementTree as etree
from django.utils import timezone

from keystead.providers.saml import keys
from keystead.providers.saml.models import AES256_CBC, AES256_GCM, SigningKey

from .helpers import path_of, posted_form

pytestmark = pytest.mark.django_db

NS = {"samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
      "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
      "ds": "http://www.w3.org/2000/09/xmldsig#",
      "xenc": "http://www.w3.org/2001/04/xmlenc#",
      "md": "urn:oasis:names:tc:SAML:2.0:metadata"}


def sign_in_to(sp, client) -> str:
    """The SAMLResponse (base64) Keystead posts for an SP-initiated sign-in."""
    page = client.get(path_of(sp.request("redirect")["url"]))
    return posted_form(page.content.decode())[1]["SAMLResponse"]


def xml_of(saml_response: str) -> Element:
    return etree.fromstring(base64.b64decode(saml_response))


def xmlsec_verify(document: bytes, certificate: str, id_attr: str, tmp: Path) -> bool:
    (tmp / "doc.xml").write_bytes(document)
    (tmp / "cert.pem").write_text(certificate)
    done = subprocess.run(["xmlsec1", "--verify", "--id-attr:ID", id_attr,
                           "--pubkey-cert-pem", str(tmp / "cert.pem"), str(tmp / "doc.xml")],
                          capture_output=True, text=True, check=False)
    return done.returncode == 0


def test_signed_response_only(make_sp, signed_in, tmp_path):
    sp = make_sp(sign_response=True, sign_assertion=False)
    answer = sign_in_to(sp, signed_in)
    root = xml_of(answer)
    assert root.find("ds:Signature", NS) is not None
    assert root.find("saml:Assertion/ds:Signature", NS) is None
    method = root.find("ds:Signature/ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm")
    assert method == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    digest = root.find("ds:Signature/ds:SignedInfo/ds:Reference/ds:DigestMethod", NS)
    assert digest.get("Algorithm") == "http://www.w3.org/2001/04/xmlenc#sha256"
    assert xmlsec_verify(base64.b64decode(answer), keys.current().certificate,
                         "urn:oasis:names:tc:SAML:2.0:protocol:Response", tmp_path)
    assert sp.read(answer)["attributes"]["email"] == ["ada@example.com"]


def test_signed_assertion_only(make_sp, signed_in, tmp_path):
    sp = make_sp(sign_response=False, sign_assertion=True)
    answer = sign_in_to(sp, signed_in)
    root = xml_of(answer)
    assert root.find("ds:Signature", NS) is None
    assert root.find("saml:Assertion/ds:Signature", NS) is not None
    assert xmlsec_verify(base64.b64decode(answer), keys.current().certificate,
                         "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", tmp_path)
    assert sp.read(answer)["attributes"]["email"] == ["ada@example.com"]


def test_xmlsec1_refuses_a_tampered_response(make_sp, signed_in, tmp_path):
    sp = make_sp(sign_response=True, sign_assertion=False)
    tampered = base64.b64decode(sign_in_to(sp, signed_in)).replace(b"Lovelace", b"Byron")
    assert not xmlsec_verify(tampered, keys.current().certificate,
                             "urn:oasis:names:tc:SAML:2.0:protocol:Response", tmp_path)
    assert "error" in sp.read(base64.b64encode(tampered).decode(), ok=False)


@pytest.mark.parametrize(("algorithm", "sign_response"),
                         [(AES256_CBC, True), (AES256_GCM, False)])
def test_encrypted_assertion(make_sp, signed_in, algorithm, sign_response):
    sp = make_sp(encryption=algorithm, sign_response=sign_response, sign_assertion=True)
    answer = sign_in_to(sp, signed_in)
    root = xml_of(answer)
    assert root.find("saml:Assertion", NS) is None
    encrypted = root.find("saml:EncryptedAssertion/xenc:EncryptedData", NS)
    assert encrypted.find("xenc:EncryptionMethod", NS).get("Algorithm") == algorithm
    transport = encrypted.find(".//xenc:EncryptedKey/xenc:EncryptionMethod", NS)
    assert transport.get("Algorithm") == "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
    assert b"ada@example.com" not in base64.b64decode(answer)
    assert (root.find("ds:Signature", NS) is not None) is sign_response
    got = sp.read(answer)
    assert got["attributes"]["email"] == ["ada@example.com"]
    assert got["format"].endswith(":persistent")


def test_metadata_is_signed_and_xmlsec1_accepts_it(client, tmp_path):
    xml = client.get("/saml/metadata")
    assert xml["Content-Type"] == "application/samlmetadata+xml"
    assert xmlsec_verify(xml.content, keys.current().certificate,
                         "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor", tmp_path)
    assert not xmlsec_verify(xml.content.replace(b"sso/post", b"sso/evil"),
                             keys.current().certificate,
                             "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor", tmp_path)


def published_certificates(xml: bytes) -> list[str]:
    root = etree.fromstring(xml)
    return [node.text.strip() for node in root.findall(
        "md:IDPSSODescriptor/md:KeyDescriptor[@use='signing']//ds:X509Certificate", NS)]


def test_key_rotation_publishes_the_next_key_before_it_signs(make_sp, signed_in, client):
    sp = make_sp(sign_response=True, sign_assertion=False)
    old = keys.current()
    old_, new = keys.rotate(dt.timedelta(days=1))
    assert old_.pk == old.pk
    published = published_certificates(client.get("/saml/metadata").content)
    assert published == [keys.certificate_body(old.certificate),
                         keys.certificate_body(new.certificate)]
    # Until the overlap has passed, the old key still signs.
    sp.refresh_idp_metadata(client)
    root = xml_of(sign_in_to(sp, signed_in))
    signer = root.find("ds:Signature/ds:KeyInfo//ds:X509Certificate", NS).text.strip()
    assert signer == keys.certificate_body(old.certificate)
    # The overlap passes: the new key signs, the old one is still published.
    SigningKey.objects.filter(pk=new.pk).update(signs_from=timezone.now())
    answer = sign_in_to(sp, signed_in)
    signer = xml_of(answer).find("ds:Signature/ds:KeyInfo//ds:X509Certificate", NS).text
    assert signer.strip() == keys.certificate_body(new.certificate)
    assert sp.read(answer)["attributes"]["email"] == ["ada@example.com"]
    published = published_certificates(client.get("/saml/metadata").content)
    assert published == [keys.certificate_body(new.certificate),
                         keys.certificate_body(old.certificate)]
    # After the second overlap the old key is gone from metadata.
    SigningKey.objects.filter(pk=old.pk).update(published_until=timezone.now())
    assert published_certificates(client.get("/saml/metadata").content) == [
        keys.certificate_body(new.certificate)]


def test_an_sp_that_only_knows_the_old_key_refuses_the_new_one(make_sp, signed_in):
    sp = make_sp(sign_response=True, sign_assertion=True)  # idp.xml: the old key only
    keys.rotate(dt.timedelta(0))
    assert "error" in sp.read(sign_in_to(sp, signed_in), ok=False)


@pytest.mark.parametrize(("sign_response", "sign_assertion"), [(True, False), (False, True)])
def test_lasso_refuses_the_response_with_its_signature_removed(make_sp, signed_in,
                                                                sign_response, sign_assertion):
    """The SP really checks: without the signature Keystead put in, lasso says no."""
    sp = make_sp(sign_response=sign_response, sign_assertion=sign_assertion)
    document = base64.b64decode(sign_in_to(sp, signed_in)).decode()
    stripped = re.sub(r"<(\w+):Signature\b.*?</\1:Signature>", "", document, flags=re.S)
    assert stripped != document
    assert "error" in sp.read(base64.b64encode(stripped.encode()).decode(), ok=False)

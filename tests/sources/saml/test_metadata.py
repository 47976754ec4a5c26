"""Keystead's SP metadata: signed (RSA-SHA256), accepted by ``xmlsec1 --verify``."""

from __future__ import annotations

import subprocess

import pytest
from defusedxml import ElementTree

MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"

pytestmark = pytest.mark.slow


def verify(xml: bytes, cert_pem: str, tmp_path) -> subprocess.CompletedProcess:
    document, cert = tmp_path / "metadata.xml", tmp_path / "sp.crt"
    document.write_bytes(xml)
    cert.write_text(cert_pem)
    return subprocess.run(["xmlsec1", "--verify", "--pubkey-cert-pem", str(cert),
                           "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
                           str(document)], capture_output=True, text=True, check=False)


def test_xmlsec1_accepts_the_signed_metadata(client, saml_source, tmp_path):
    answer = client.get("/sources/saml/metadata")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/samlmetadata+xml"
    done = verify(answer.content, saml_source.sp_certificate, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stderr


def test_xmlsec1_refuses_changed_metadata(client, saml_source, tmp_path):
    xml = client.get("/sources/saml/metadata").content.replace(
        b"/sources/saml/acs", b"/evil/acs")
    assert verify(xml, saml_source.sp_certificate, tmp_path).returncode != 0


def test_the_metadata_names_the_acs_and_sha256(client, saml_source):
    root = ElementTree.fromstring(client.get("/sources/saml/metadata").content)
    assert root.get("entityID") == "http://testserver/sources/saml/metadata"
    sp = root.find(f"{MD}SPSSODescriptor")
    assert sp.get("AuthnRequestsSigned") == "true"
    acs = sp.find(f"{MD}AssertionConsumerService")
    assert acs.get("Location") == "http://testserver/sources/saml/acs"
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    method = root.find(f"{DS}Signature/{DS}SignedInfo/{DS}SignatureMethod").get("Algorithm")
    digest = root.find(f"{DS}Signature/{DS}SignedInfo/{DS}Reference/{DS}DigestMethod")
    assert method.endswith("rsa-sha256")
    assert digest.get("Algorithm").endswith("sha256")
    uses = {kd.get("use") for kd in sp.findall(f"{MD}KeyDescriptor")}
    assert uses == {"signing", "encryption"}


def test_no_metadata_without_a_source(client, db):
    assert client.get("/sources/saml/metadata").status_code == 404


def test_the_private_key_is_encrypted_at_rest(saml_source):
    from keystead.sources.saml.models import SamlSource

    stored = SamlSource.objects.values_list("sp_private_key_encrypted", flat=True).get()
    assert "PRIVATE KEY" not in stored
    assert "PRIVATE KEY" in saml_source.sp_private_key.reveal()
    assert "PRIVATE KEY" not in repr(saml_source.sp_private_key)


def test_the_metadata_offers_no_weak_algorithm(client, saml_source):
    xml = client.get("/sources/saml/metadata").content.decode().lower()
    assert "sha256" in xml
    assert "sha1" not in xml and "md5" not in xml

"""Every refused response shows the person "Invalid ticket" and tells the administrator why."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import pytest
from django.test import Client

from keystead.directory.models import Event, User
from keystead.sources.saml import services
from keystead.sources.saml.models import SamlSource, UsedAssertion

from .conftest import encoded, response_xml

EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"

pytestmark = pytest.mark.slow


@pytest.fixture
def people(db):
    return (User.objects.create_user("ada@example.com", "Ada", "Lovelace"),
            User.objects.create_user("mallory@example.com", "Mallory", "Hacker"))


def refused(answer, reason_part: str) -> None:
    assert answer.status_code == 403
    assert "Invalid ticket" in answer.content.decode()
    event = Event.objects.filter(action="saml.sign_in").latest("id")
    assert event.outcome == "failure"
    assert reason_part in event.detail["reason"], event.detail["reason"]
    assert reason_part in SamlSource.objects.get().last_error
    assert "_auth_user_id" not in answer.wsgi_request.session


def test_a_tampered_response_is_refused(idp, people):
    response = idp.respond(idp.request(), name_id="mallory@example.com",
                           name_id_format=EMAIL_FORMAT)
    changed = response_xml(response).replace("mallory@example.com", "ada@example.com")
    refused(idp.post(encoded(changed)), "signature not valid")


def test_a_response_signed_by_another_key_is_refused(idp, people, other_keys):
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT,
                           keys=other_keys)
    refused(idp.post(response), "signature not valid")


def test_an_expired_response_is_refused(idp, people):
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT,
                           lifetime_seconds=-600)
    refused(idp.post(response), "expired")


def test_a_response_for_another_audience_is_refused(idp, people):
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT,
                           audience="https://other-sp.example.test/metadata")
    refused(idp.post(response), "wrong audience")


def test_a_replayed_response_is_refused(idp, people):
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT)
    cookie = idp.client.cookies[services.REQUEST_COOKIE].value
    assert idp.post(response).status_code == 302
    assert UsedAssertion.objects.count() == 1
    # The same response and the same browser cookie again, from another browser.
    other = Client()
    other.cookies[services.REQUEST_COOKIE] = cookie
    refused(other.post("/sources/saml/acs", {"SAMLResponse": response}), "replayed")


def test_a_response_to_a_request_from_another_browser_is_refused(idp, people):
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT)
    refused(Client().post("/sources/saml/acs", {"SAMLResponse": response}), "InResponseTo")


def test_garbage_is_refused_without_an_error_page(idp, people):
    refused(idp.post("not base64 at all!"), "")
    refused(idp.post(encoded("<not-saml/>")), "")


def test_a_response_signed_with_sha1_is_refused(idp, people):
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT,
                           sha1=True)
    assert "rsa-sha1" in response_xml(response)
    refused(idp.post(response), "weak algorithm")


def test_an_assertion_encrypted_with_3des_is_refused(idp, people):
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT,
                           encrypt=True, cipher="3des")
    assert "tripledes" in response_xml(response)
    refused(idp.post(response), "not AES")


def without_response_signature(xml: str) -> str:
    start = xml.index("<Signature ")
    assert start < xml.index("<saml:Assertion")  # the response's signature comes first
    end = xml.index("</Signature>", start) + len("</Signature>")
    return xml[:start] + xml[end:]


def test_a_signature_on_the_assertion_alone_is_enough(idp, people):
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT)
    answer = idp.post(encoded(without_response_signature(response_xml(response))))
    assert answer.status_code == 302


def test_a_response_sent_to_another_destination_is_refused(idp, people):
    """With the response's own signature taken off, only the assertion is signed, which is
    enough for pysaml2; the Response's Destination is then Keystead's own check."""
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT)
    assertion_signed_only = without_response_signature(response_xml(response))
    changed = assertion_signed_only.replace('Destination="http://testserver/sources/saml/acs"',
                                            'Destination="https://elsewhere.example.test/acs"', 1)
    refused(idp.post(encoded(changed)), "estination")


def test_a_name_id_in_another_format_than_the_user_key_is_refused(idp, saml_source, people):
    SamlSource.objects.filter(pk=saml_source.pk).update(
        user_key="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT)
    refused(idp.post(response), "the NameID format is")


def test_an_unsigned_response_without_an_assertion_is_refused(idp, saml_source, people):
    """Nothing in it is signed, so pysaml2 has nothing to check; Keystead refuses it. The
    request id is readable in the browser's cookie (signed, not encrypted)."""
    idp.request()
    cookie = idp.client.cookies[services.REQUEST_COOKIE].value
    request_id = json.loads(base64.urlsafe_b64decode(cookie.split(":")[0] + "=="))["id"]
    xml = ('<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
           'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r" Version="2.0" '
           'IssueInstant="2030-01-01T00:00:00Z" '
           'Destination="http://testserver/sources/saml/acs" '
           f'InResponseTo="{request_id}"><saml:Issuer>{saml_source.idp_entity_id}'
           '</saml:Issuer><samlp:Status><samlp:StatusCode '
           'Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
           '</samlp:Response>')
    refused(idp.post(encoded(xml)), "no assertion")


def resigned_assertion(xml: str, keys, directory: Path) -> str:
    """``xml`` (its assertion changed, the response's signature taken off) with the
    assertion signed again by the IdP's key, by xmlsec1: what an IdP that itself puts
    those values in would send. (Lasso always writes the Recipient it expects.)"""
    (directory / "in.xml").write_text(xml)
    (directory / "key.pem").write_text(keys.key)
    (directory / "cert.pem").write_text(keys.cert)
    subprocess.run(["xmlsec1", "--sign", "--privkey-pem",
                    f"{directory / 'key.pem'},{directory / 'cert.pem'}",
                    "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                    "--output", str(directory / "out.xml"), str(directory / "in.xml")],
                   check=True, capture_output=True)
    return (directory / "out.xml").read_text()


def test_a_subject_confirmation_for_another_recipient_is_refused(idp, people, tmp_path):
    """Profiles 4.1.4.2: the bearer SubjectConfirmationData's Recipient is the ACS URL."""
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT)
    xml = without_response_signature(response_xml(response))
    ours = 'Recipient="http://testserver/sources/saml/acs"'
    assert ours in xml
    resigned = resigned_assertion(
        xml.replace(ours, 'Recipient="https://other-sp.example.test/acs"'), idp.keys, tmp_path)
    refused(idp.post(encoded(resigned)), "Recipient")


def test_a_resigned_assertion_is_accepted_when_nothing_else_changed(idp, people, tmp_path):
    """The control for the test above: re-signing by itself does not make a refusal."""
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT)
    resigned = resigned_assertion(without_response_signature(response_xml(response)),
                                  idp.keys, tmp_path)
    assert idp.post(encoded(resigned)).status_code == 302


def test_an_assertion_without_an_audience_restriction_is_refused(idp, people):
    """Profiles 4.1.4.2: a bearer assertion MUST name the SP in an <AudienceRestriction>."""
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT,
                           audience_restrictions=[])
    assert "AudienceRestriction" not in response_xml(response)
    refused(idp.post(response), "wrong audience")


def test_every_audience_restriction_must_name_keystead(idp, people):
    """Core 2.5.1.4: several <AudienceRestriction>s must each be satisfied (an AND)."""
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT,
                           audience_restrictions=["http://testserver/sources/saml/metadata",
                                                  "https://other-sp.example.test/metadata"])
    refused(idp.post(response), "wrong audience")


def test_an_assertion_confirmed_other_than_by_bearer_is_refused(idp, people):
    """Web Browser SSO works with bearer confirmation only; sender-vouches proves nothing
    about the browser that posts it."""
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT,
                           confirmation_method="urn:oasis:names:tc:SAML:2.0:cm:sender-vouches")
    refused(idp.post(response), "bearer")


def without_first_signature(xml: str) -> str:
    start = xml.index("<Signature ")
    end = xml.index("</Signature>", start) + len("</Signature>")
    return xml[:start] + xml[end:]


@pytest.mark.parametrize(("sha1", "accepted"), [(False, True), (True, False)])
def test_the_signature_inside_an_encrypted_assertion_is_held_to_sha256(idp, people, sha1,
                                                                         accepted):
    """With the response's own signature off, the only signature is the assertion's, inside
    the EncryptedAssertion: an RSA-SHA1 one there is refused like one outside."""
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT,
                           encrypt=True, sha1=sha1)
    xml = without_first_signature(response_xml(response))
    assert "<Signature " not in xml and "EncryptedAssertion" in xml
    answer = idp.post(encoded(xml))
    if accepted:
        assert answer.status_code == 302
    else:
        refused(answer, "weak algorithm")


def _wrapped(xml: str, where: str, keep_signature: bool) -> str:
    """Signature wrapping: the IdP-signed assertion kept (hidden in ``where``) for the
    signature check, beside a forged copy naming Mallory as Ada, with the same ID (and
    the genuine one's signature copied into it, or none)."""
    start = xml.index("<saml:Assertion")
    end = xml.index("</saml:Assertion>") + len("</saml:Assertion>")
    genuine = xml[start:end]
    forged = genuine.replace("mallory@example.com", "ada@example.com")
    if not keep_signature:
        forged = re.sub(r"<Signature .*?</Signature>", "", forged, flags=re.S)
    if where == "extensions":
        hidden = f"<samlp:Extensions>{genuine}</samlp:Extensions>"
        head = xml[:start]
        issuer_end = head.index("</saml:Issuer>") + len("</saml:Issuer>")
        return head[:issuer_end] + hidden + head[issuer_end:] + forged + xml[end:]
    # "advice": the genuine assertion inside the forged one's <Advice>
    return xml[:start] + forged.replace(
        "</saml:Conditions>", f"</saml:Conditions><saml:Advice>{genuine}</saml:Advice>", 1
    ) + xml[end:]


@pytest.mark.parametrize("keep_signature", [True, False])
@pytest.mark.parametrize("where", ["extensions", "advice"])
def test_signature_wrapping_is_refused(idp, people, where, keep_signature):
    """XSW: the signature verifies over the genuine assertion (Mallory's), the forged
    copy beside it says Ada; nobody is signed in."""
    response = idp.respond(idp.request(), name_id="mallory@example.com",
                           name_id_format=EMAIL_FORMAT)
    xml = without_response_signature(response_xml(response))
    wrapped = _wrapped(xml, where, keep_signature)
    assert wrapped.count("ada@example.com") == 1
    answer = idp.post(encoded(wrapped))
    assert answer.status_code == 403
    assert "_auth_user_id" not in answer.wsgi_request.session
    event = Event.objects.filter(action="saml.sign_in").latest("id")
    assert event.outcome == "failure"

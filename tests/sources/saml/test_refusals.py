"""Every refused response shows the person "Invalid ticket" and tells the administrator why."""

from __future__ import annotations

import base64
import json

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

"""IdP metadata that pysaml2 reads but Keystead cannot use is refused on the form (or noted
by a refresh), never a 500 and never half saved."""

from __future__ import annotations

import pytest

from keystead.sources.saml import services
from keystead.sources.saml.models import SamlSource

from .conftest import BASE_URL, IDP_ENTITY_ID, IDP_SSO_URL, make_key_pair

ADD = "/admin/saml_source/samlsource/add/"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
CERT = make_key_pair("Metadata IdP").cert
BASE64 = "".join(CERT.strip().splitlines()[1:-1])

pytestmark = pytest.mark.django_db


def metadata(entity_id: str = IDP_ENTITY_ID, location: str = f'Location="{IDP_SSO_URL}"',
             certificate: str = BASE64) -> str:
    return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
 <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
  <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>
   <ds:X509Certificate>{certificate}</ds:X509Certificate>
  </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
  <md:SingleSignOnService Binding="{REDIRECT}" {location}/>
 </md:IDPSSODescriptor>
</md:EntityDescriptor>"""


def form(xml: str) -> dict:
    return {"name": "Example IdP", "enabled": "on", "metadata_url": "", "metadata_xml": xml,
            "metadata_refresh_hours": "24", "idp_entity_id": "", "sso_url": "",
            "sso_binding": REDIRECT, "certificate": "",
            "user_key": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            "identifier_attribute": "uid", "email_attribute": "email",
            "given_name_attribute": "givenName", "family_name_attribute": "sn"}


@pytest.fixture
def console(client, admin_user, settings):
    settings.BASE_URL = BASE_URL
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize(("xml", "words"), [
    (metadata(certificate="abc!"), "(X509Certificate) is not base64"),
    (metadata(certificate="abcde"), "(X509Certificate) is not base64"),
    (metadata(location=""), f"SingleSignOnService for {REDIRECT} has no Location"),
    (metadata(entity_id="https://idp.test/" + "e" * 484),
     "entityID is 501 characters long; the field 'IdP entity id' holds at most 500"),
    (metadata(location=f'Location="https://idp.test/{"s" * 984}"'),
     "Location for urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect is 1001 characters "
     "long; the field 'SAML server address (SSO URL)' holds at most 1000"),
    (metadata().replace(f' entityID="{IDP_ENTITY_ID}"', ""),
     "EntityDescriptor has no entityID"),
    (metadata(location='Location="javascript:alert(1)"'),
     f"SingleSignOnService for {REDIRECT} is not an http or https address"),
], ids=["certificate-bad-character", "certificate-bad-length", "sso-without-location",
        "entity-id-too-long", "sso-location-too-long", "entity-id-missing", "sso-not-web"])
def test_unusable_metadata_is_refused_on_its_field(console, xml, words):
    answer = console.post(ADD, form(xml))
    assert answer.status_code == 200
    errors = answer.context["adminform"].form.errors
    assert words in errors["metadata_xml"][0], errors
    assert not SamlSource.objects.exists()


def test_values_of_the_longest_lengths_are_kept(console):
    entity_id, sso_url = "https://idp.test/" + "e" * 483, "https://idp.test/" + "s" * 983
    answer = console.post(ADD, form(metadata(entity_id, f'Location="{sso_url}"')))
    assert answer.status_code == 302, answer.context["adminform"].form.errors
    source = SamlSource.objects.get()
    assert (len(source.idp_entity_id), len(source.sso_url)) == (500, 1000)


def test_a_refresh_with_a_too_long_entity_id_keeps_the_old_values(saml_source, monkeypatch):
    saml_source.metadata_url = "https://idp.test/metadata"
    saml_source.save()
    monkeypatch.setattr(services.metadata_download, "fetch",
                        lambda url: metadata("https://idp.test/" + "e" * 1000))
    services.refresh_metadata(saml_source, force=True)
    stored = SamlSource.objects.get()
    assert stored.idp_entity_id == IDP_ENTITY_ID
    assert "at most 500" in stored.last_error

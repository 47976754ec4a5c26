"""SP metadata that pysaml2 reads but Keystead cannot use is refused on the form, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from keystead.directory.authorization import OPERATOR
from keystead.providers.saml import services
from keystead.providers.saml.models import EMAIL, SamlApplication

pytestmark = pytest.mark.django_db

ADD = "/admin/saml_idp/samlapplication/add/"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
ACS = f'<md:AssertionConsumerService Binding="{POST}" Location="https://sp.test/acs" index="0"/>'


def metadata(entity_id: str = "https://sp.test/md", endpoints: str = ACS) -> str:
    return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">
 <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
  {endpoints}
 </md:SPSSODescriptor>
</md:EntityDescriptor>"""


def form(xml: str) -> dict:
    return {"name": "Wiki", "slug": "wiki", "enabled": "on", "metadata_url": "",
            "metadata_xml": xml, "sign_response": "on", "sign_assertion": "on",
            "encryption": "", "nameid_format": EMAIL, "relay_state": "",
            "attribute_email": "mail", "attribute_given_name": "", "attribute_family_name": "",
            "attribute_username": "uid", "attribute_groups": "memberOf"}


@pytest.fixture
def console(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize(("xml", "words"), [
    (metadata(endpoints=ACS.replace('index="0"', 'index="abc"')),
     'index="abc", which is not a whole number'),
    (metadata(endpoints=ACS.replace(' Location="https://sp.test/acs"', "")),
     "One <AssertionConsumerService> has no Location attribute"),
    (metadata(endpoints=ACS + f'<md:SingleLogoutService Binding="{REDIRECT}"/>'),
     "One <SingleLogoutService> has no Location attribute"),
    (metadata(entity_id="https://sp.test/" + "e" * 1009),
     "entityID is 1025 characters long; the entity ID may be at most 1024"),
    (metadata().replace(' entityID="https://sp.test/md"', ""),
     "The <EntityDescriptor> has no entityID attribute"),
    (metadata(endpoints=ACS.replace("https://sp.test/acs", "javascript:alert(1)")),
     "One <AssertionConsumerService> has the Location 'javascript:alert(1)', which is not an "
     "http or https address"),
], ids=["acs-index-not-a-number", "acs-without-location", "slo-without-location",
        "entity-id-too-long", "entity-id-missing", "acs-not-web"])
def test_unusable_metadata_is_refused_on_its_field(console, xml, words):
    page = console.post(ADD, form(xml))
    assert page.status_code == 200
    errors = page.context["adminform"].form.errors
    assert words in errors["metadata_xml"][0], errors
    assert not SamlApplication.objects.exists()


def test_an_entity_id_of_the_longest_length_is_kept():
    entity_id = "https://sp.test/" + "e" * 1008
    application = services.register(
        services.ApplicationSettings(name="Wiki", slug="wiki", metadata_xml=metadata(entity_id)),
        actor=OPERATOR)
    assert len(application.entity_id) == 1024


def test_a_too_long_entity_id_from_the_metadata_url_is_refused_on_the_url(monkeypatch):
    monkeypatch.setattr(services.metadata_download, "fetch",
                        lambda url: metadata("https://sp.test/" + "e" * 2000))
    with pytest.raises(services.ApplicationRefused) as refused:
        services.register(services.ApplicationSettings(
            name="Wiki", slug="wiki", metadata_url="https://sp.test/md"), actor=OPERATOR)
    assert "at most 1024" in refused.value.problems["metadata_url"]
    assert not SamlApplication.objects.exists()

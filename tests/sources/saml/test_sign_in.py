"""SP-initiated sign-in against the Lasso IdP: each user key signs the right person in."""

from __future__ import annotations

import pytest

from keystead.directory.models import Event, Source, User
from keystead.sources.saml.models import SamlSource, UserKey

from .conftest import response_xml

EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
PERSISTENT_FORMAT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
UNSPECIFIED_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"

pytestmark = pytest.mark.slow


@pytest.fixture
def ada(db):
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", username="alovelace")


@pytest.fixture
def grace(db):
    return User.objects.create_user("grace@example.com", "Grace", "Hopper", username="ghopper")


def signed_in_as(client) -> User | None:
    user = client.get("/account/profile").wsgi_request.user
    return user if user.is_authenticated else None


def use_key(source: SamlSource, key: str, **fields) -> None:
    SamlSource.objects.filter(pk=source.pk).update(user_key=key, **fields)


def last_sign_in() -> Event:
    return Event.objects.filter(action="saml.sign_in").latest("id")


def test_email_name_id_signs_in_the_person_with_that_email(idp, ada, grace):
    response = idp.respond(idp.request(), name_id="grace@example.com",
                           name_id_format=EMAIL_FORMAT)
    answer = idp.post(response)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert answer["Location"] == "/"
    assert signed_in_as(idp.client) == grace
    event = last_sign_in()
    assert event.outcome == "success" and event.target_id == str(grace.pk)
    assert SamlSource.objects.get().last_success_at is not None


def test_persistent_name_id_matches_the_source_identifier_first(idp, saml_source, ada, grace):
    use_key(saml_source, UserKey.PERSISTENT)
    User.objects.filter(pk=ada.pk).update(source=Source.SAML, source_id="opaque-7f3a")
    response = idp.respond(idp.request(), name_id="opaque-7f3a",
                           name_id_format=PERSISTENT_FORMAT)
    assert idp.post(response).status_code == 302
    assert signed_in_as(idp.client) == ada


def test_persistent_name_id_matches_the_unique_user_identifier(idp, saml_source, ada, grace):
    use_key(saml_source, UserKey.PERSISTENT)
    response = idp.respond(idp.request(), name_id="ghopper", name_id_format=PERSISTENT_FORMAT)
    assert idp.post(response).status_code == 302
    assert signed_in_as(idp.client) == grace


def test_unspecified_attribute_matches_the_unique_user_identifier(idp, saml_source, ada, grace):
    use_key(saml_source, UserKey.UNSPECIFIED, identifier_attribute="uid")
    response = idp.respond(idp.request(), name_id="whatever-the-idp-sends",
                           name_id_format=UNSPECIFIED_FORMAT,
                           attributes={"uid": ["alovelace"], "email": ["ada@example.com"]})
    assert idp.post(response).status_code == 302
    assert signed_in_as(idp.client) == ada


def test_a_new_person_is_created_when_the_source_allows_it(idp, saml_source):
    use_key(saml_source, UserKey.PERSISTENT, create_people=True)
    response = idp.respond(idp.request(), name_id="e5b1-77", name_id_format=PERSISTENT_FORMAT,
                           attributes={"email": ["Linus@Example.com"], "givenName": ["Linus"],
                                       "sn": ["Torvalds"]})
    assert idp.post(response).status_code == 302
    person = User.objects.get(source=Source.SAML, source_id="e5b1-77")
    assert (person.email, person.given_name, person.family_name) == (
        "linus@example.com", "Linus", "Torvalds")
    assert signed_in_as(idp.client) == person
    assert Event.objects.filter(action="user.create", target_id=str(person.pk)).exists()


def test_an_unknown_person_is_refused_when_creating_is_off(idp):
    response = idp.respond(idp.request(), name_id="nobody@example.com",
                           name_id_format=EMAIL_FORMAT)
    answer = idp.post(response)
    assert answer.status_code == 403
    assert "Invalid ticket" in answer.content.decode()
    assert "no Keystead person matches" in last_sign_in().detail["reason"]
    assert not User.objects.filter(email="nobody@example.com").exists()
    assert signed_in_as(idp.client) is None


def test_a_disabled_person_cannot_sign_in_and_stays_disabled(idp, ada):
    User.objects.filter(pk=ada.pk).update(is_active=False)
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT)
    answer = idp.post(response)
    assert answer.status_code == 403
    assert "account disabled" in last_sign_in().detail["reason"]
    assert "account disabled" in SamlSource.objects.get().last_error


def test_an_encrypted_assertion_is_decrypted(idp, ada):
    response = idp.respond(idp.request(), name_id="ada@example.com",
                           name_id_format=EMAIL_FORMAT, encrypt=True)
    assert "EncryptedAssertion" in response_xml(response)
    assert "aes256" in response_xml(response)
    assert idp.post(response).status_code == 302
    assert signed_in_as(idp.client) == ada


def test_the_place_asked_for_is_where_the_person_lands(idp, ada):
    request = idp.request("/sources/saml/login?next=/account/profile")
    response = idp.respond(request, name_id="ada@example.com", name_id_format=EMAIL_FORMAT)
    answer = idp.post(response)
    assert answer["Location"] == "/account/profile"


def test_a_person_with_an_authenticator_app_passes_the_second_factor_first(idp, ada):
    from django.utils import timezone

    from keystead import crypto
    from keystead.login.models import TotpDevice

    TotpDevice.objects.create(user=ada, secret_encrypted=crypto.encrypt("JBSWY3DPEHPK3PXP",
                                                                        "totp"),
                              confirmed_at=timezone.now())
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT)
    answer = idp.post(response)
    assert answer.status_code == 302 and answer["Location"] == "/login/verify/"
    assert signed_in_as(idp.client) is None


def test_an_idp_that_wants_http_post_gets_a_signed_request_form(idp, saml_source, ada):
    import re

    from keystead.sources.saml.models import Binding

    SamlSource.objects.filter(pk=saml_source.pk).update(sso_binding=Binding.POST)
    page = idp.client.get("/sources/saml/login").content.decode()
    assert 'action="https://idp.example.test/saml/sso"' in page
    request = re.search(r'name="SAMLRequest" value="([^"]+)"', page).group(1)
    assert "<ds:Signature" in response_xml(request) or "Signature" in response_xml(request)
    response = idp.respond(request, binding="post", name_id="ada@example.com",
                           name_id_format=EMAIL_FORMAT)
    assert idp.post(response).status_code == 302
    assert signed_in_as(idp.client) == ada


def test_during_a_rollover_either_certificate_is_accepted(idp, saml_source, ada, other_keys,
                                                          idp_keys):
    SamlSource.objects.filter(pk=saml_source.pk).update(
        certificate=other_keys.cert + "\n" + idp_keys.cert)
    response = idp.respond(idp.request(), name_id="ada@example.com", name_id_format=EMAIL_FORMAT,
                           keys=idp_keys)
    assert idp.post(response).status_code == 302
    assert signed_in_as(idp.client) == ada

"""The console's SAML page: certificate messages on the form, the status page, readiness."""

from __future__ import annotations

import pytest

from keystead.directory.models import Event, User
from keystead.policy.strategies import strategy_prerequisites
from keystead.sources.saml import readiness
from keystead.sources.saml.models import SamlSource

from .conftest import BASE_URL, IDP_ENTITY_ID, IDP_SSO_URL, make_key_pair

ADD = "/admin/saml_source/samlsource/add/"


def form(cert: str, **extra) -> dict:
    return {"name": "Example IdP", "enabled": "on", "metadata_url": "", "metadata_xml": "",
            "metadata_refresh_hours": "24", "idp_entity_id": IDP_ENTITY_ID,
            "sso_url": IDP_SSO_URL,
            "sso_binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
            "certificate": cert,
            "user_key": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            "identifier_attribute": "uid", "email_attribute": "email",
            "given_name_attribute": "givenName", "family_name_attribute": "sn", **extra}


@pytest.fixture
def console(client, admin_user, settings):
    settings.BASE_URL = BASE_URL
    client.force_login(admin_user)
    return client


def test_adding_a_source_generates_its_key_pair_and_is_audited(console, idp_keys):
    answer = console.post(ADD, form(idp_keys.cert))
    assert answer.status_code == 302, answer.content.decode()[:3000]
    source = SamlSource.objects.get()
    assert source.sp_certificate.startswith("-----BEGIN CERTIFICATE-----")
    assert source.sp_private_key_encrypted
    event = Event.objects.get(action="saml_source.change")
    assert event.detail["created"] is True
    assert "PRIVATE" not in str(event.detail)


def test_a_certificate_with_wrong_dashes_is_refused_on_its_field(console, idp_keys):
    bad = idp_keys.cert.replace("-----BEGIN CERTIFICATE-----", "----BEGIN CERTIFICATE-----")
    answer = console.post(ADD, form(bad))
    assert answer.status_code == 200
    errors = answer.context["adminform"].form.errors
    assert "4 dashes before" in errors["certificate"][0]
    assert not SamlSource.objects.exists()


def test_an_expired_certificate_is_refused(console):
    old = make_key_pair("Old", days=10, offset_days=-20).cert
    answer = console.post(ADD, form(old))
    assert "expired on" in answer.context["adminform"].form.errors["certificate"][0]


def test_a_certificate_expiring_soon_saves_with_a_warning(console):
    soon = make_key_pair("Soon", days=10, offset_days=-1).cert
    answer = console.post(ADD, form(soon), follow=True)
    assert SamlSource.objects.exists()
    assert "expires within 30 days" in answer.content.decode()


def test_metadata_xml_fills_in_the_fields_and_both_rollover_certificates(console, idp_keys):
    import datetime

    from keystead.sources.saml import idp_metadata
    from keystead.sources.saml.certificates import check_certificates

    second = make_key_pair("Next").cert
    ders = [*check_certificates(idp_keys.cert + second,
                                datetime.datetime.now(datetime.UTC)).certificates]
    xml = idp_metadata.written("https://idp.other.test/md", {
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect": "https://idp.other.test/sso"}, ders)
    answer = console.post(ADD, form("", idp_entity_id="", sso_url="", metadata_xml=xml))
    assert answer.status_code == 302, answer.content.decode()[:3000]
    source = SamlSource.objects.get()
    assert source.idp_entity_id == "https://idp.other.test/md"
    assert source.sso_url == "https://idp.other.test/sso"
    assert source.certificate.count("BEGIN CERTIFICATE") == 2


def test_the_status_page_shows_what_to_give_the_idp_and_the_last_error(console, saml_source):
    SamlSource.objects.filter(pk=saml_source.pk).update(last_error="expired: NotOnOrAfter")
    page = console.get(f"/admin/saml_source/samlsource/{saml_source.pk}/status/").content.decode()
    assert f"{BASE_URL}/sources/saml/metadata" in page
    assert f"{BASE_URL}/sources/saml/acs" in page
    assert "expired: NotOnOrAfter" in page


def test_only_superusers_change_sources(client, db, saml_source):
    helper = User.objects.create_user("help@example.com", "Help", "Desk", password="x" * 20,
                                      is_staff=True)
    client.force_login(helper)
    assert client.get("/admin/saml_source/samlsource/").status_code == 403


def test_readiness_names_what_is_missing(db, saml_source):
    assert readiness.missing() is None
    assert strategy_prerequisites("saml") == []
    SamlSource.objects.update(certificate="")
    assert "no valid IdP certificate" in readiness.missing()
    SamlSource.objects.update(enabled=False)
    assert readiness.missing() == readiness.NO_SAML


def test_the_sign_in_page_offers_the_idp_and_keeps_the_password_form(client, saml_source):
    page = client.get("/login/?next=/account/profile").content.decode()
    assert "Sign in with Example IdP" in page
    assert "/sources/saml/login?next=/account/profile" in page
    assert 'name="password"' in page


def test_no_idp_button_without_a_source(client, db):
    assert "Sign in with" not in client.get("/login/").content.decode()


def test_no_page_shows_the_sp_private_key(console, saml_source):
    key_body = saml_source.sp_private_key.reveal().splitlines()[1]
    for path in (f"/admin/saml_source/samlsource/{saml_source.pk}/change/",
                 f"/admin/saml_source/samlsource/{saml_source.pk}/status/",
                 "/admin/saml_source/samlsource/", "/sources/saml/metadata", "/login/"):
        page = console.get(path).content.decode()
        assert "PRIVATE KEY" not in page and key_body not in page, path

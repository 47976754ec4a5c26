"""SAML applications and signing keys in the console, and the portal's launcher."""

from __future__ import annotations

import http.server
import threading

import pytest
from django.core.management import call_command
from django.test import Client

from keystead.directory.authorization import Actor, NotAllowed
from keystead.directory.models import Event, Outcome, User
from keystead.providers.saml import keys, services
from keystead.providers.saml.models import EMAIL, SamlApplication, SigningKey

from .helpers import lasso, make_key_pair

pytestmark = pytest.mark.django_db

ADD = "/admin/saml_idp/samlapplication/add/"
LIST = "/admin/saml_idp/samlapplication/"
KEYS = "/admin/saml_idp/signingkey/"


@pytest.fixture
def sp_metadata(tmp_path) -> str:
    make_key_pair(tmp_path, "console")
    return lasso(tmp_path, "metadata", "https://wiki.sp.test/md", "https://wiki.sp.test/acs",
                 "https://wiki.sp.test/slo")["metadata"]


@pytest.fixture
def console(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def form(**changes) -> dict:
    data = {"name": "Wiki", "slug": "wiki", "enabled": "on", "metadata_url": "",
            "metadata_xml": "", "sign_response": "on", "sign_assertion": "on",
            "encryption": "", "nameid_format": EMAIL, "relay_state": "",
            "attribute_email": "mail", "attribute_given_name": "", "attribute_family_name": "",
            "attribute_username": "uid", "attribute_groups": "memberOf"}
    data.update(changes)
    return data


def test_register_from_pasted_metadata(console, sp_metadata):
    page = console.post(ADD, form(metadata_xml=sp_metadata))
    assert page.status_code == 302, page.content.decode()[:3000]
    application = SamlApplication.objects.get()
    assert application.entity_id == "https://wiki.sp.test/md"
    assert application.attributes == {"email": "mail", "username": "uid", "groups": "memberOf"}
    assert application.persistent_key and "wiki" not in application.persistent_key
    event = Event.objects.get(action="saml.application.register")
    assert event.detail["entity_id"] == "https://wiki.sp.test/md"
    assert "EntityDescriptor" not in str(event.detail)


def test_register_from_a_metadata_url(console, sp_metadata):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's name
            self.send_response(200)
            self.end_headers()
            self.wfile.write(sp_metadata.encode())

        def log_message(self, *args) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/metadata"
        page = console.post(ADD, form(metadata_url=url))
    finally:
        server.shutdown()
    assert page.status_code == 302
    application = SamlApplication.objects.get()
    assert (application.entity_id, application.metadata_url) == ("https://wiki.sp.test/md", url)


@pytest.mark.parametrize(("changes", "field_words"), [
    ({"metadata_xml": "<not-metadata/>"}, b"no service provider"),
    ({"metadata_xml": "nonsense"}, b"not valid SAML metadata"),
    ({}, b"The metadata is empty"),
    ({"metadata_url": "http://127.0.0.1:9/md"}, b"could not be fetched"),
])
def test_bad_metadata_is_refused_with_a_reason(console, changes, field_words):
    page = console.post(ADD, form(**changes))
    assert page.status_code == 200
    assert field_words in page.content
    assert not SamlApplication.objects.exists()


def test_encryption_needs_an_encryption_certificate(console, sp_metadata):
    stripped = sp_metadata.split('<md:KeyDescriptor use="encryption">')[0] + \
        sp_metadata.split("</md:KeyDescriptor>", 2)[2]
    page = console.post(ADD, form(metadata_xml=stripped,
                                  encryption="http://www.w3.org/2001/04/xmlenc#aes256-cbc"))
    assert b"no encryption certificate" in page.content
    assert not SamlApplication.objects.exists()


def test_unsigned_answers_are_not_allowed(console, sp_metadata):
    page = console.post(ADD, form(metadata_xml=sp_metadata, sign_response="",
                                  sign_assertion=""))
    assert b"Sign the response, the assertion or both" in page.content


def test_the_list_shows_the_idp_metadata_address(console, sp_metadata):
    console.post(ADD, form(metadata_xml=sp_metadata))
    page = console.get(LIST).content.decode()
    assert "/saml/metadata</code>" in page
    assert "Wiki" in page


def test_change_and_delete_are_audited(console, sp_metadata):
    console.post(ADD, form(metadata_xml=sp_metadata))
    application = SamlApplication.objects.get()
    page = console.get(f"{LIST}{application.pk}/change/")
    assert b"/saml/launch/wiki" in page.content
    answer = console.post(f"{LIST}{application.pk}/change/",
                          form(metadata_xml=sp_metadata, name="Team wiki"))
    assert answer.status_code == 302
    assert SamlApplication.objects.get().name == "Team wiki"
    assert Event.objects.filter(action="saml.application.change").exists()
    console.post(f"{LIST}{application.pk}/delete/", {"post": "yes"})
    assert not SamlApplication.objects.exists()
    assert Event.objects.filter(action="saml.application.delete").exists()


def test_people_without_the_permission_may_not_register(sp_metadata):
    staff = User.objects.create_user("help@example.com", "Help", "Desk", password="x" * 20)
    with pytest.raises(NotAllowed):
        services.register(services.ApplicationSettings(name="W", slug="w",
                                                       metadata_xml=sp_metadata),
                          actor=Actor.person(staff))
    assert not SamlApplication.objects.exists()
    assert Event.objects.get(action="saml.application.register").outcome == Outcome.DENIED


def test_rotate_from_the_console(console):
    keys.current()
    assert console.get(KEYS).status_code == 200
    answer = console.post(f"{KEYS}rotate/", {"overlap_days": "3"})
    assert answer.status_code == 302
    assert SigningKey.objects.count() == 2
    assert Event.objects.filter(action="saml.key.rotate").exists()
    page = console.get(KEYS).content.decode()
    assert "next (published, not signing yet)" in page
    assert console.post(f"{KEYS}rotate/", {"overlap_days": "-1"}).status_code == 302
    assert SigningKey.objects.count() == 2


def test_only_a_superuser_may_rotate():
    staff = User.objects.create_user("ops@example.com", "Ops", "Person", password="x" * 20)
    with pytest.raises(NotAllowed):
        services.rotate_key(actor=Actor.person(staff))
    assert Event.objects.get(action="saml.key.rotate").outcome == Outcome.DENIED


def test_rotate_from_the_command_line():
    old = keys.current()
    call_command("saml_rotate_key", "--overlap-days", "0")
    assert keys.current().pk != old.pk
    assert Event.objects.filter(action="saml.key.rotate").exists()


def test_the_private_key_is_encrypted_at_rest():
    key = keys.current()
    assert "PRIVATE KEY" not in key.private_key
    assert "PRIVATE KEY" in keys.private_pem(key).reveal()


def test_the_portal_lists_saml_applications_with_their_launch_address(make_sp, signed_in):
    make_sp("crm")
    page = signed_in.get("/").content.decode()
    assert 'href="/saml/launch/crm"' in page


def test_the_console_shows_the_certificate_never_the_private_key(console, client):
    key = keys.current()
    body = keys.certificate_body(key.certificate)
    pem = keys.private_pem(key).reveal()
    secret_line = pem.splitlines()[5]
    page = console.get(f"{KEYS}{key.pk}/change/").content.decode()
    assert body[:40] in page
    for shown in (page, console.get(KEYS).content.decode(),
                  client.get("/saml/metadata").content.decode()):
        assert "PRIVATE KEY" not in shown
        assert secret_line not in shown
        assert key.private_key[:40] not in shown

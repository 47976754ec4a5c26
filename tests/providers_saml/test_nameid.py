"""NameID formats: persistent (stable per application, unrelated between them), email,
unspecified."""

from __future__ import annotations

import base64

import pytest

from keystead.directory.models import Event
from keystead.providers.saml.models import EMAIL, PERSISTENT, UNSPECIFIED

from .helpers import path_of, posted_form

pytestmark = pytest.mark.django_db


def name_id_at(sp, client, asked: str = PERSISTENT) -> dict:
    """What the SP reads after asking (NameIDPolicy Format ``asked``; "none": no Format)."""
    page = client.get(path_of(sp.request("redirect", "", "", "--nameid-format", asked)["url"]))
    return sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])


def test_persistent_is_stable_per_application_and_differs_between_them(make_sp, signed_in,
                                                                        person):
    first, second = make_sp("first"), make_sp("second")
    one = name_id_at(first, signed_in)
    again = name_id_at(first, signed_in)
    other = name_id_at(second, signed_in)
    assert one["name_id"] == again["name_id"]
    assert one["name_id"] != other["name_id"]
    assert one["sp_name_qualifier"] == first.entity_id
    # Not the person's email, user name or subject: nothing another party could know.
    # (A short name such as "ada" may occur in 64 hex digits by chance, so the short ones
    # are compared whole and only the long ones searched for.)
    for known in (person.email, person.username, str(person.subject),
                  person.subject.hex):
        assert known != one["name_id"]
        assert len(known) < 16 or known not in one["name_id"]
    assert len(one["name_id"]) == 64


def test_persistent_differs_between_people(make_sp, client, person):
    from keystead.directory.models import User

    sp = make_sp()
    other = User.objects.create_user("grace@example.com", "Grace", "Hopper", password="x" * 20)
    client.force_login(person)
    ada = name_id_at(sp, client)["name_id"]
    client.force_login(other)
    assert name_id_at(sp, client)["name_id"] != ada


def test_email_address_format(make_sp, signed_in):
    got = name_id_at(make_sp(nameid_format=EMAIL), signed_in, EMAIL)
    assert (got["name_id"], got["format"]) == ("ada@example.com", EMAIL)


def test_unspecified_format_is_the_user_name(make_sp, signed_in):
    got = name_id_at(make_sp(nameid_format=UNSPECIFIED), signed_in, UNSPECIFIED)
    assert (got["name_id"], got["format"]) == ("ada", UNSPECIFIED)


@pytest.mark.parametrize("asked", [UNSPECIFIED, "none"])
def test_a_request_leaving_the_format_open_gets_the_registered_one(make_sp, signed_in, asked):
    got = name_id_at(make_sp(nameid_format=EMAIL), signed_in, asked)
    assert (got["name_id"], got["format"]) == ("ada@example.com", EMAIL)


def test_a_format_other_than_the_registered_one_answers_invalid_name_id_policy(make_sp,
                                                                               signed_in):
    """Core 3.4.1.1: asked for persistent, Keystead must not send an email NameID; the SP
    gets a signed error Response at its ACS (not a page), InvalidNameIDPolicy."""
    sp = make_sp(nameid_format=EMAIL)
    asked = sp.request("redirect", "state-9", "", "--nameid-format", PERSISTENT)
    page = signed_in.get(path_of(asked["url"]))
    action, fields = posted_form(page.content.decode())
    assert (action, fields["RelayState"]) == (sp.acs, "state-9")
    xml = base64.b64decode(fields["SAMLResponse"]).decode()
    assert "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy" in xml
    assert f'InResponseTo="{asked["id"]}"' in xml
    assert "ada@example.com" not in xml
    assert "error" in sp.read(fields["SAMLResponse"], ok=False)
    event = Event.objects.filter(action="saml.sso").latest("pk")
    assert event.outcome == "failure"
    assert "NameIDPolicy" in event.detail["reason"]


def test_a_request_about_someone_else_is_not_answered_with_the_signed_in_person(make_sp,
                                                                                 signed_in,
                                                                                 person):
    """Core 3.4.1.4: a request with a <Subject> asks about that principal; Ada, signed in,
    must not be asserted to an SP that asked about somebody else (UnknownPrincipal)."""
    from keystead.providers.saml import release

    sp = make_sp()
    asked = sp.request("redirect", "", "", "--subject", "f" * 64)
    page = signed_in.get(path_of(asked["url"]))
    action, fields = posted_form(page.content.decode())
    assert action == sp.acs
    xml = base64.b64decode(fields["SAMLResponse"]).decode()
    assert "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal" in xml
    assert "<ns1:Assertion" not in xml and "Assertion " not in xml
    assert "error" in sp.read(fields["SAMLResponse"], ok=False)
    # Asking about Ada herself is answered as usual.
    ada = release.name_id_value(sp.application, person)
    page = signed_in.get(path_of(sp.request("redirect", "", "", "--subject", ada)["url"]))
    assert sp.read(posted_form(page.content.decode())[1]["SAMLResponse"])["name_id"] == ada

"""NameID formats: persistent (stable per application, unrelated between them), email,
unspecified."""

from __future__ import annotations

import pytest

from keystead.providers.saml.models import EMAIL, UNSPECIFIED

from .helpers import path_of, posted_form

pytestmark = pytest.mark.django_db


def name_id_at(sp, client) -> dict:
    page = client.get(path_of(sp.request("redirect")["url"]))
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
    got = name_id_at(make_sp(nameid_format=EMAIL), signed_in)
    assert (got["name_id"], got["format"]) == ("ada@example.com", EMAIL)


def test_unspecified_format_is_the_user_name(make_sp, signed_in):
    got = name_id_at(make_sp(nameid_format=UNSPECIFIED), signed_in)
    assert (got["name_id"], got["format"]) == ("ada", UNSPECIFIED)

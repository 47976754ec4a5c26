"""Signing in through Keystead under the LDAP strategy against a real AD (Samba's DC)."""

from __future__ import annotations

import pytest

from keystead.directory.models import Event, Source, User
from keystead.login.passwords import Result, sign_in_with_password
from keystead.secret import Secret
from keystead.sources.ldap.models import LdapSource

from .samba import PEOPLE, REALM, Samba

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("samba")]


@pytest.fixture
def source(samba: Samba, ad_source) -> LdapSource:
    """An enabled AD source over LDAPS, its test marked as passed; the strategy is LDAP."""
    return ad_source(port=samba.ldaps_port, method="ldaps", user_filter="(objectClass=user)")


def last_login() -> Event:
    return Event.objects.filter(action="login").order_by("-id").first()


def test_normal_user_signs_in_and_is_created(source: LdapSource) -> None:
    answer = sign_in_with_password("signin", Secret(PEOPLE["signin"][2]))
    assert answer.result is Result.OK, answer
    person = User.objects.get(email=f"signin@{REALM.lower()}")
    assert answer.user == person
    assert (person.source, person.username, person.given_name, person.family_name) == (
        Source.LDAP, "signin", "Sign", "In")
    assert len(person.source_id) == 36  # objectGUID, written as Windows shows it
    assert not person.has_usable_password()
    assert last_login().detail == {"method": "ldap", "door": "portal"}


def test_locked_ad_account_is_refused_with_the_reason_in_the_audit(source: LdapSource) -> None:
    answer = sign_in_with_password("locked", Secret(PEOPLE["locked"][2]))
    assert answer.result is Result.FAILED
    assert answer.message == ""  # the person sees the generic failure
    event = last_login()
    assert event.outcome == "failure"
    assert event.detail["method"] == "ldap"
    assert event.detail["reason"] == "locked on the directory"


def test_expired_ad_password_is_told_in_plain_words(source: LdapSource) -> None:
    answer = sign_in_with_password("expiredpw", Secret(PEOPLE["expiredpw"][2]))
    assert answer.result is Result.FAILED
    assert "Your directory password has expired." in answer.message
    assert last_login().detail["reason"] == "password expired on the directory"

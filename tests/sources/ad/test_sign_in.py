"""Signing in through Keystead under the LDAP strategy against a real AD (Samba's DC)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from keystead.directory.models import Event, Source, User
from keystead.login.passwords import Result, sign_in_with_password
from keystead.policy.models import LogonPolicy
from keystead.secret import Secret
from keystead.sources.ldap import pool
from keystead.sources.ldap.models import Kind, LdapSource

from .samba import PEOPLE, REALM, Samba

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("samba")]


@pytest.fixture(autouse=True)
def fresh_pools() -> Iterator[None]:
    yield
    pool.close_all()


@pytest.fixture
def source(samba: Samba) -> LdapSource:
    """An enabled AD source over LDAPS, its test marked as passed; the strategy is LDAP."""
    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(login_strategy="ldap")
    made = LdapSource(name="Samba AD", kind=Kind.ACTIVE_DIRECTORY, host=samba.host,
                      port=samba.ldaps_port, method="ldaps", ca_certificate=samba.ca_pem,
                      base_dn=samba.base_dn, user_key="sAMAccountName",
                      user_filter="(objectClass=user)", bind_dn=samba.service_dn,
                      unique_id_attribute="objectGUID", username_attribute="sAMAccountName",
                      connect_timeout=3, operation_timeout=5, last_test_ok=True)
    made.set_bind_password(Secret(samba.service_password))
    made.save()
    return made


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

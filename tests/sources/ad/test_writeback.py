"""Writable mode against a real AD (Samba's DC): passwords set in Keystead reach ``unicodePwd``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from keystead.directory.models import Event, User
from keystead.policy.models import LogonPolicy
from keystead.secret import Secret
from keystead.sources.ldap import pool
from keystead.sources.ldap.models import Kind, LdapSource

from .samba import PEOPLE, Samba

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("samba")]
NEW_PASSWORD = "Quartz-Lantern-Meadow-73"


@pytest.fixture(autouse=True)
def fresh_pools() -> Iterator[None]:
    yield
    pool.close_all()


@pytest.fixture
def writable(samba: Samba) -> LdapSource:
    """An enabled, writable AD source over StartTLS; the strategy is LDAP."""
    LogonPolicy.current()
    LogonPolicy.objects.filter(pk=1).update(login_strategy="ldap")
    made = LdapSource(name="Samba AD", kind=Kind.ACTIVE_DIRECTORY, mode="writable",
                      host=samba.host, port=samba.ldap_port, method="starttls",
                      ca_certificate=samba.ca_pem, base_dn=samba.base_dn,
                      user_key="sAMAccountName", bind_dn=samba.service_dn,
                      unique_id_attribute="objectGUID", username_attribute="sAMAccountName",
                      connect_timeout=3, operation_timeout=5, last_test_ok=True)
    made.set_bind_password(Secret(samba.service_password))
    made.save()
    return made


def signed_in(name: str, password: str) -> tuple[User, Client]:
    browser = Client()
    response = browser.post("/login/", {"username": name, "password": password})
    assert response.status_code == 302, response.content.decode()[-600:]
    return User.objects.get(username=name), browser


def test_own_change_is_written_as_delete_and_add(writable: LdapSource, samba: Samba) -> None:
    old = PEOPLE["wbchange"][2]
    person, browser = signed_in("wbchange", old)
    response = browser.post("/password/change/", {
        "current_password": old, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert response.status_code == 302, response.content.decode()[-1500:]
    assert samba.can_bind("wbchange", NEW_PASSWORD) and not samba.can_bind("wbchange", old)
    event = Event.objects.get(action="user.password.change", target_id=str(person.pk))
    assert event.detail["directory"] == "written"
    signed_in("wbchange", NEW_PASSWORD)


def test_admin_set_is_a_reset_by_the_service_account(writable: LdapSource, samba: Samba,
                                                     admin_user: User) -> None:
    old = PEOPLE["wbreset"][2]
    person, _ = signed_in("wbreset", old)
    console = Client()
    console.force_login(admin_user)
    response = console.post(f"/admin/directory/user/{person.pk}/password/", {
        "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "set_usable_password": "true"},
        follow=True)
    assert response.status_code == 200
    assert samba.can_bind("wbreset", NEW_PASSWORD) and not samba.can_bind("wbreset", old)
    signed_in("wbreset", NEW_PASSWORD)


def test_plain_ldap_refuses_the_reset_with_a_clear_message(writable: LdapSource,
                                                           samba: Samba,
                                                           admin_user: User) -> None:
    old = PEOPLE["ada"][2]
    person, _ = signed_in("ada", old)
    LdapSource.objects.filter(pk=writable.pk).update(method="plain")
    console = Client()
    console.force_login(admin_user)
    response = console.post(f"/admin/directory/user/{person.pk}/password/", {
        "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "set_usable_password": "true"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Active Directory accepts passwords only over an encrypted connection" in page
    assert NEW_PASSWORD not in page
    assert samba.can_bind("ada", old) and not samba.can_bind("ada", NEW_PASSWORD)
    assert not Event.objects.filter(action="user.password.set",
                                    target_id=str(person.pk)).exists()

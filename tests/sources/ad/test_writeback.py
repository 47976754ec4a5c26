"""Writable mode against a real AD (Samba's DC): passwords set in Keystead reach ``unicodePwd``."""

from __future__ import annotations

import pytest

from keystead.directory.models import Event, User
from keystead.sources.ldap.models import LdapSource

from ..ldap.helpers import console_sets_password, signed_in
from .samba import PEOPLE, Samba

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("samba")]
NEW_PASSWORD = "Quartz-Lantern-Meadow-73"


@pytest.fixture
def writable(samba: Samba, ad_source) -> LdapSource:
    """An enabled, writable AD source over StartTLS; the strategy is LDAP."""
    return ad_source(mode="writable", port=samba.ldap_port, method="starttls")


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
    response = console_sets_password(admin_user, person, NEW_PASSWORD)
    assert response.status_code == 200
    assert samba.can_bind("wbreset", NEW_PASSWORD) and not samba.can_bind("wbreset", old)
    signed_in("wbreset", NEW_PASSWORD)


def test_plain_ldap_refuses_the_reset_with_a_clear_message(writable: LdapSource,
                                                           samba: Samba,
                                                           admin_user: User) -> None:
    old = PEOPLE["ada"][2]
    person, _ = signed_in("ada", old)
    LdapSource.objects.filter(pk=writable.pk).update(method="plain")
    response = console_sets_password(admin_user, person, NEW_PASSWORD, follow=False)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Active Directory accepts passwords only over an encrypted connection" in page
    assert NEW_PASSWORD not in page
    assert samba.can_bind("ada", old) and not samba.can_bind("ada", NEW_PASSWORD)
    assert not Event.objects.filter(action="user.password.set",
                                    target_id=str(person.pk)).exists()

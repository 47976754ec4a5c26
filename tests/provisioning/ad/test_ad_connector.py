"""The Active Directory connector against a real AD: Samba's domain controller."""

from __future__ import annotations

import ldap
import pytest

from keystead.cli.admin import generate_password
from keystead.provisioning.connectors.ad import (
    ACCOUNTDISABLE,
    CURRENT_PASSWORD,
    ActiveDirectoryConnector,
    PasswordRefused,
)
from keystead.provisioning.connectors.base import (
    ENABLE,
    NAME,
    PASSWORD,
    ConnectorError,
    SettingsError,
)
from keystead.secret import Secret
from sources.ad.samba import Samba

from ..helpers import accepts

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("samba")]


def binds(samba: Samba, dn: str, password: str, *, starttls: bool = False) -> bool:
    return accepts(samba.connect(starttls=starttls), dn, password)


def account_control(samba: Samba, dn: str) -> int:
    admin = samba.admin()
    try:
        return int(admin.search_s(dn, ldap.SCOPE_BASE,
                                  attrlist=["userAccountControl"])[0][1]
                   ["userAccountControl"][0])
    finally:
        admin.unbind_s()


def test_created_account_with_a_generated_password_binds_over_ldaps(
        ad: ActiveDirectoryConnector, samba: Samba) -> None:
    password = generate_password()
    dn = ad.create("prov-ann", {"givenName": "Ann", "sn": "Example",
                                PASSWORD: Secret(password)})
    assert binds(samba, dn, password)
    assert not account_control(samba, dn) & ACCOUNTDISABLE
    seen = ad.read("prov-ann")
    assert seen is not None and seen["sAMAccountName"] == ["prov-ann"]
    assert seen["userPrincipalName"] == [f"prov-ann{samba.upn_suffix}"]
    assert not {"unicodePwd", "userPassword"} & set(seen)


def test_create_sent_twice_updates_and_sets_the_password_again(
        ad: ActiveDirectoryConnector, samba: Samba) -> None:
    first, second = generate_password(), generate_password()
    ad.create("prov-twice", {"sn": "One", PASSWORD: Secret(first)})
    dn = ad.create("prov-twice", {"sn": "Two", PASSWORD: Secret(second)})
    assert ad.read("prov-twice")["sn"] == ["Two"]
    assert binds(samba, dn, second) and not binds(samba, dn, first)


def test_admin_reset_and_user_change(ad: ActiveDirectoryConnector, samba: Samba) -> None:
    original, reset, changed = (generate_password() for _ in range(3))
    dn = ad.create("prov-bob", {"sn": "Bob", PASSWORD: Secret(original)})

    ad.update("prov-bob", {PASSWORD: Secret(reset)})  # a replace, as an administrator
    assert binds(samba, dn, reset) and not binds(samba, dn, original)

    ad.update("prov-bob", {PASSWORD: Secret(changed), CURRENT_PASSWORD: Secret(reset)})
    assert binds(samba, dn, changed, starttls=True) and not binds(samba, dn, reset)


def test_user_change_with_a_wrong_current_password_is_refused(
        ad: ActiveDirectoryConnector, samba: Samba) -> None:
    password = generate_password()
    dn = ad.create("prov-wrong", {"sn": "Wrong", PASSWORD: Secret(password)})
    with pytest.raises(Exception) as refused:
        ad.update("prov-wrong", {PASSWORD: Secret(generate_password()),
                                 CURRENT_PASSWORD: Secret("Not-The-Password-1")})
    assert "Not-The-Password-1" not in str(refused.value)
    assert binds(samba, dn, password)


def test_complexity_refusal_is_a_clear_permanent_error(
        ad: ActiveDirectoryConnector, samba: Samba) -> None:
    ad.create("prov-weak", {"sn": "Weak", PASSWORD: Secret(generate_password())})
    with pytest.raises(PasswordRefused) as refused:
        ad.update("prov-weak", {PASSWORD: Secret("abc")})
    message = str(refused.value)
    assert refused.value.permanent
    assert "password rules" in message and "AD said" in message
    assert "abc\"" not in message and "'abc'" not in message


def test_disable_and_enable_flip_only_the_disable_bit(
        ad: ActiveDirectoryConnector, samba: Samba) -> None:
    password = generate_password()
    dn = ad.create("prov-off", {"sn": "Off", PASSWORD: Secret(password)})
    before = account_control(samba, dn)
    ad.update("prov-off", {ENABLE: False})
    assert account_control(samba, dn) == before | ACCOUNTDISABLE
    assert not binds(samba, dn, password)
    ad.update("prov-off", {ENABLE: True})
    assert account_control(samba, dn) == before
    assert binds(samba, dn, password)


def test_delete_is_idempotent(ad: ActiveDirectoryConnector) -> None:
    ad.create("prov-gone", {"sn": "Gone", PASSWORD: Secret(generate_password())})
    ad.delete("prov-gone")
    ad.delete("prov-gone")
    assert ad.read("prov-gone") is None


def test_plain_ldap_is_refused_before_anything_is_sent(ad_settings: dict,
                                                       samba: Samba) -> None:
    with pytest.raises(SettingsError, match="encrypted connection"):
        ActiveDirectoryConnector({**ad_settings, "url": f"ldap://{samba.host}"}, {})


@pytest.mark.django_db
def test_through_the_queue_a_refused_password_is_an_exception_on_the_operation(
        ad_settings: dict, samba: Samba) -> None:
    from keystead.provisioning import services
    from keystead.provisioning.models import Kind, Operation, State, System
    from keystead.provisioning.worker import Worker

    system = System(name="samba-ad", connector="ad", settings=ad_settings)
    system.set_secrets({"bind_password": Secret(samba.admin_password)})
    system.save()
    password = generate_password()
    services.queue_account_creation(system, "prov-queued", attributes={"sn": "Queued"},
                                    password=Secret(password))
    assert Worker("w-ad", batch=10).run(once=True) == 1
    assert binds(samba, f"CN=prov-queued,{ad_settings['base_dn']}", password)

    services.queue_operation(system, "prov-queued", Kind.PASSWORD, password=Secret("abc"))
    Worker("w-ad", batch=10).run(once=True)
    failed = Operation.objects.get(system=system)
    assert failed.state == State.EXCEPTION
    assert "does not meet the domain's password rules" in failed.last_error
    assert "abc\"" not in failed.last_error


def test_accounts_lists_the_entries_under_the_base(ad: ActiveDirectoryConnector) -> None:
    for name in ("prov-l1", "prov-l2"):
        ad.create(name, {"sn": name, PASSWORD: Secret(generate_password())})
    listed = dict(ad.accounts())
    assert sorted(listed) == ["prov-l1", "prov-l2"]
    assert listed["prov-l1"]["sAMAccountName"] == ["prov-l1"]
    assert not {"unicodePwd", "ntPwdHistory"} & set(listed["prov-l1"])


def test_a_rename_moves_the_entry_and_its_logon_names_and_sent_again_is_harmless(
        ad: ActiveDirectoryConnector, samba: Samba, ad_ou: str) -> None:
    password = generate_password()
    old_dn = ad.create("prov-old", {"sn": "Old", PASSWORD: Secret(password)})
    renamed = {NAME: "prov-new", "sn": "New"}
    new_dn = ad.update("prov-old", renamed)
    assert new_dn == ad.dn("prov-new") == f"cn=prov-new,{ad_ou}" != old_dn
    assert ad.update("prov-old", renamed) == new_dn  # a retry: already moved
    assert ad.read("prov-old") is None
    seen = ad.read("prov-new")
    assert seen["sAMAccountName"] == ["prov-new"] and seen["sn"] == ["New"]
    assert seen["userPrincipalName"] == [f"prov-new{samba.upn_suffix}"]
    assert binds(samba, new_dn, password)


def test_a_rename_onto_an_existing_entry_is_refused_for_good(
        ad: ActiveDirectoryConnector) -> None:
    ad.create("prov-left", {"sn": "Left"})
    ad.create("prov-right", {"sn": "Right"})
    with pytest.raises(ConnectorError, match="already exists") as refused:
        ad.update("prov-left", {NAME: "prov-right"})
    assert refused.value.permanent
    assert ad.read("prov-left")["sn"] == ["Left"] and ad.read("prov-right")["sn"] == ["Right"]

"""The LDAP connector against a real slapd: accounts, passwords that bind, safe retries."""

from __future__ import annotations

import os
import socket

import ldap
import pytest

from keystead.provisioning.connectors import ConnectorError, SettingsError
from keystead.provisioning.connectors.base import ENABLE, PASSWORD
from keystead.provisioning.connectors.ldap import LdapConnector
from keystead.secret import Secret
from sources.ldap.slapd import Slapd

from .helpers import binds, ldap_entries


def connector(server: Slapd, base: str, **settings) -> LdapConnector:
    return LdapConnector({"url": server.ldap_url, "bind_dn": server.root_dn, "base_dn": base,
                          **settings}, {"bind_password": Secret(server.root_password)})


PERSON = {"cn": "Ada Lovelace", "sn": "Lovelace", "givenName": "Ada",
          "mail": "ada@example.test"}


@pytest.fixture(scope="session")
def argon2_loaded(prov_slapd: Slapd) -> None:
    """Load slapd's argon2 password module into this test server (once)."""
    conn = prov_slapd.admin()
    try:
        conn.modify_s("cn=module{0},cn=config",
                      [(ldap.MOD_ADD, "olcModuleLoad", [b"argon2.la"])])
    finally:
        conn.unbind_s()


@pytest.mark.parametrize("mode", [{"password_mode": "exop"},
                                  {"password_mode": "hashed", "password_hash": "SSHA"},
                                  {"password_mode": "hashed", "password_hash": "ARGON2"}])
def test_created_account_binds_and_a_changed_password_replaces_the_old(
        prov_slapd: Slapd, accounts_ou: str, mode: dict, request) -> None:
    if mode.get("password_hash") == "ARGON2":
        request.getfixturevalue("argon2_loaded")
    target = connector(prov_slapd, accounts_ou, **mode)
    dn = target.create("ada", {**PERSON, PASSWORD: Secret("first-Pass-2201")})
    assert dn == f"uid=ada,{accounts_ou}"
    assert binds(prov_slapd, dn, "first-Pass-2201")
    assert not binds(prov_slapd, dn, "wrong-Pass-0000")
    admin = prov_slapd.admin()
    stored = admin.search_s(dn, ldap.SCOPE_BASE, attrlist=["userPassword"])[0][1]
    admin.unbind_s()
    scheme = "{" + mode.get("password_hash", "SSHA") + "}"  # exop: slapd's default, {SSHA}
    assert stored["userPassword"][0].decode().startswith(scheme)

    target.update("ada", {PASSWORD: Secret("second-Pass-3302")})
    assert binds(prov_slapd, dn, "second-Pass-3302")
    assert not binds(prov_slapd, dn, "first-Pass-2201")
    target.close()


def test_create_twice_is_one_entry_with_the_latest_values(prov_slapd: Slapd,
                                                         accounts_ou: str) -> None:
    target = connector(prov_slapd, accounts_ou)
    target.create("ada", {**PERSON, PASSWORD: Secret("first-Pass-2201")})
    target.create("ada", {**PERSON, "mail": "ada2@example.test",
                          PASSWORD: Secret("first-Pass-2201")})
    assert ldap_entries(prov_slapd, accounts_ou) == [f"uid=ada,{accounts_ou}"]
    assert target.read("ada")["mail"] == ["ada2@example.test"]
    assert "userPassword" not in target.read("ada")
    assert binds(prov_slapd, f"uid=ada,{accounts_ou}", "first-Pass-2201")


def test_update_delete_and_read(prov_slapd: Slapd, accounts_ou: str) -> None:
    target = connector(prov_slapd, accounts_ou)
    target.create("alan", {"cn": "Alan Turing", "sn": "Turing"})
    target.update("alan", {"mail": "alan@example.test", "givenName": None})
    assert target.read("alan")["mail"] == ["alan@example.test"]
    target.delete("alan")
    target.delete("alan")  # already gone: still deleted, no error
    assert target.read("alan") is None
    assert ldap_entries(prov_slapd, accounts_ou) == []


def test_disable_locks_the_account_and_enable_unlocks_it(prov_slapd: Slapd,
                                                        accounts_ou: str) -> None:
    target = connector(prov_slapd, accounts_ou)
    dn = target.create("grace", {"cn": "Grace Hopper", "sn": "Hopper",
                                 PASSWORD: Secret("grace-Pass-1906")})
    target.update("grace", {ENABLE: False})
    assert not binds(prov_slapd, dn, "grace-Pass-1906")
    target.update("grace", {ENABLE: True})
    assert binds(prov_slapd, dn, "grace-Pass-1906")


def test_schema_lists_the_object_class_attributes(prov_slapd: Slapd, accounts_ou: str) -> None:
    names = {a.name: a for a in connector(prov_slapd, accounts_ou).schema()}
    assert names["cn"].required and names["sn"].required
    assert not names["mail"].required
    assert PASSWORD in names and ENABLE in names


def test_refusals_are_connector_errors_without_the_values(prov_slapd: Slapd,
                                                         accounts_ou: str) -> None:
    target = connector(prov_slapd, accounts_ou)
    with pytest.raises(ConnectorError) as refused:
        target.create("nobody", {"cn": "No Surname", PASSWORD: Secret("canary-Value-9911")})
    assert refused.value.permanent  # sn is required: a retry cannot help
    assert "Object class violation" in str(refused.value)
    assert "canary-Value-9911" not in str(refused.value)

    wrong = LdapConnector({"url": prov_slapd.ldap_url, "bind_dn": prov_slapd.root_dn,
                           "base_dn": accounts_ou}, {"bind_password": Secret("not-it")})
    with pytest.raises(ConnectorError, match="bind failed: Invalid credentials"):
        wrong.test()
    with pytest.raises(SettingsError, match="'base_dn' is empty"):
        LdapConnector({"url": prov_slapd.ldap_url}, {})


def test_a_dropped_connection_is_reopened(prov_slapd: Slapd, accounts_ou: str) -> None:
    target = connector(prov_slapd, accounts_ou)
    target.test()
    # The connection is cut under the connector's feet (as a server restart would).
    cut = socket.socket(fileno=os.dup(target._conn.get_option(ldap.OPT_DESC)))
    cut.shutdown(socket.SHUT_RDWR)
    cut.close()
    with pytest.raises(ldap.SERVER_DOWN):
        target._conn.whoami_s()
    target.create("kept", {"cn": "Kept Going", "sn": "Going"})
    assert target.read("kept") is not None

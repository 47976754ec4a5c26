"""The LDAP connector against a real slapd: accounts, passwords that bind, safe retries."""

from __future__ import annotations

import os
import socket

import ldap
import pytest

from keystead.provisioning.connectors import ConnectorError, SettingsError
from keystead.provisioning.connectors.base import (
    CREATE,
    DELETE,
    ENABLE,
    NAME,
    PASSWORD,
    UPDATE,
    Request,
)
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
    for url in ("not a url", "http://ldap.example.com", "ldap://ok.example.com nonsense"):
        with pytest.raises(SettingsError, match="'url' must be an LDAP URL"):
            LdapConnector({"url": url, "base_dn": accounts_ou}, {})


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


# -- batches: requests of different accounts in flight together ----------------------


def _batch(names: list[str], tag: str) -> list[Request]:
    return [Request(CREATE, name, {"cn": name, "sn": "Batch", PASSWORD: Secret(f"{tag}-{name}")})
            for name in names]


@pytest.mark.parametrize("pipeline", [100, 2])
def test_a_batch_keeps_each_accounts_order_and_every_password_binds(
        prov_slapd: Slapd, accounts_ou: str, pipeline: int) -> None:
    target = connector(prov_slapd, accounts_ou, pipeline=pipeline)
    names = [f"p{i:02d}" for i in range(12)]
    outcomes = target.run_many(_batch(names, "first-Pass"))
    assert outcomes == [f"uid={name},{accounts_ou}" for name in names]
    # Each account's requests run in order: an update with a new mail, a new password and
    # a lock arrives whole (the lock after the password set, or the bind below would work).
    changes = [Request(UPDATE, name, {"mail": f"{name}@example.test",
                                      PASSWORD: Secret(f"second-Pass-{name}"),
                                      ENABLE: name != "p03"}) for name in names]
    assert target.run_many(changes) == outcomes
    for name in names:
        dn = f"uid={name},{accounts_ou}"
        assert binds(prov_slapd, dn, f"second-Pass-{name}") == (name != "p03")
        assert not binds(prov_slapd, dn, f"first-Pass-{name}")
        assert target.read(name)["mail"] == [f"{name}@example.test"]
    assert target.run_many([Request(DELETE, name, {}) for name in names]) == [None] * 12
    assert ldap_entries(prov_slapd, accounts_ou) == []


def test_one_failure_in_a_batch_fails_only_itself(prov_slapd: Slapd, accounts_ou: str) -> None:
    target = connector(prov_slapd, accounts_ou)
    canary = "canary-Batch-4471"
    requests = [*_batch(["a1", "a2"], "pw"),
                Request(CREATE, "nosurname", {"cn": "No Surname", PASSWORD: Secret(canary)}),
                Request(UPDATE, "missing", {"mail": "x@example.test", PASSWORD: Secret(canary)}),
                Request(DELETE, "never-there", {}),
                *_batch(["a3"], "pw")]
    outcomes = target.run_many(requests)
    good = {0: "a1", 1: "a2", 5: "a3"}
    for index, name in good.items():
        assert outcomes[index] == f"uid={name},{accounts_ou}"
        assert binds(prov_slapd, outcomes[index], f"pw-{name}")
    refused, missing = outcomes[2], outcomes[3]
    assert isinstance(refused, ConnectorError) and refused.permanent
    assert str(refused).startswith("LDAP create failed: Object class violation")
    assert isinstance(missing, ConnectorError) and not missing.permanent  # may appear later
    assert str(missing).startswith("LDAP update failed: No such object")
    assert canary not in str(refused) + str(missing)
    assert outcomes[4] is None  # deleting an absent account: deleted
    assert sorted(ldap_entries(prov_slapd, accounts_ou)) == sorted(
        f"uid={name},{accounts_ou}" for name in good.values())


def test_a_batch_sent_again_after_a_kill_gives_the_same_accounts(
        prov_slapd: Slapd, accounts_ou: str) -> None:
    names = [f"k{i:02d}" for i in range(10)]
    # A worker died after part of its batch reached the target (some entries added, some
    # with their password set); the batch is claimed again and sent whole.
    first = connector(prov_slapd, accounts_ou)
    first.run_many(_batch(names[:4], "final-Pass"))
    first.run_many([Request(CREATE, name, {"cn": name, "sn": "Batch"}) for name in names[4:7]])
    first.close()
    again = connector(prov_slapd, accounts_ou)
    outcomes = again.run_many(_batch(names, "final-Pass"))
    assert outcomes == [f"uid={name},{accounts_ou}" for name in names]
    assert len(ldap_entries(prov_slapd, accounts_ou)) == len(names)
    assert all(binds(prov_slapd, dn, f"final-Pass-{name}") for dn, name in zip(outcomes, names,
                                                                                strict=True))


def test_a_connection_dropped_under_a_batch_is_reopened(prov_slapd: Slapd,
                                                       accounts_ou: str) -> None:
    target = connector(prov_slapd, accounts_ou)
    target.test()
    cut = socket.socket(fileno=os.dup(target._conn.get_option(ldap.OPT_DESC)))
    cut.shutdown(socket.SHUT_RDWR)
    cut.close()
    names = [f"d{i}" for i in range(5)]
    assert target.run_many(_batch(names, "pw")) == [f"uid={n},{accounts_ou}" for n in names]
    assert all(binds(prov_slapd, f"uid={n},{accounts_ou}", f"pw-{n}") for n in names)


def test_an_unreachable_server_fails_every_request_of_the_batch(accounts_ou: str) -> None:
    target = LdapConnector({"url": "ldap://127.0.0.1:9", "base_dn": accounts_ou, "timeout": 2},
                           {})
    outcomes = target.run_many(_batch(["u1", "u2"], "pw"))
    assert len(outcomes) == 2
    assert all(isinstance(o, ConnectorError) and not o.permanent for o in outcomes)
    with pytest.raises(SettingsError, match="'pipeline' must be"):
        LdapConnector({"url": "ldap://127.0.0.1:9", "base_dn": accounts_ou, "pipeline": 0}, {})


def test_a_rename_moves_the_entry_and_sent_again_is_harmless(prov_slapd: Slapd,
                                                              accounts_ou: str) -> None:
    target = connector(prov_slapd, accounts_ou)
    target.create("ada", {**PERSON, PASSWORD: Secret("first-Pass-2201")})
    renamed = {NAME: "ada.king", "sn": "King", PASSWORD: Secret("second-Pass-2202")}
    new_dn = f"uid=ada.king,{accounts_ou}"
    assert target.update("ada", renamed) == new_dn
    assert target.update("ada", renamed) == new_dn  # a retry: already renamed
    assert ldap_entries(prov_slapd, accounts_ou) == [new_dn]
    entry = target.read("ada.king")
    assert entry["uid"] == ["ada.king"] and entry["sn"] == ["King"]  # the old uid is gone
    assert binds(prov_slapd, new_dn, "second-Pass-2202")
    assert target.read("ada") is None
    with pytest.raises(ConnectorError, match="neither") as refused:
        target.update("ghost", {NAME: "ghost2"})
    assert refused.value.permanent
    target.create("grace", {**PERSON, "sn": "Hopper"})
    with pytest.raises(ConnectorError, match="already exists") as refused:
        target.update("grace", {NAME: "ada.king"})
    assert refused.value.permanent
    target.close()

"""Writing ``unicodePwd`` to a real Active Directory (Samba's AD DC)."""

from __future__ import annotations

import ldap
import pytest

from keystead.secret import Secret
from keystead.sources.ldap.active_directory import (
    ProtectionRequired,
    password_change_modlist,
    require_protected,
)
from keystead.sources.ldap.connection import ConnectionSettings, Method

from .samba import PEOPLE, Samba

pytestmark = pytest.mark.xdist_group("samba")


def test_modlists() -> None:
    new, old = Secret("Nouveau-ü-1"), Secret("Ancien-2")
    assert password_change_modlist(new, None) == [
        (ldap.MOD_REPLACE, "unicodePwd", ['"Nouveau-ü-1"'.encode("utf-16-le")])]
    assert password_change_modlist(new, old) == [
        (ldap.MOD_DELETE, "unicodePwd", ['"Ancien-2"'.encode("utf-16-le")]),
        (ldap.MOD_ADD, "unicodePwd", ['"Nouveau-ü-1"'.encode("utf-16-le")])]


def test_modlist_wants_secrets() -> None:
    with pytest.raises(TypeError) as caught:
        password_change_modlist("Plain-Text-1", None)  # type: ignore[arg-type]
    assert "Plain-Text-1" not in str(caught.value)


def test_administrator_reset(samba: Samba) -> None:
    old = PEOPLE["resetme"][2]
    new = "Reset-by-Admin-ü-2026"  # beyond ASCII: proves the UTF-16LE encoding
    admin = samba.admin()
    try:
        admin.modify_s(samba.dn("resetme"), password_change_modlist(Secret(new), None))
    finally:
        admin.unbind_s()
    assert samba.can_bind("resetme", new)
    assert not samba.can_bind("resetme", old)


def test_user_changes_own_password_over_starttls(samba: Samba) -> None:
    old = PEOPLE["changeme"][2]
    new = "Changed-by-Self-é-2026"
    conn = samba.connect(starttls=True)
    try:
        conn.simple_bind_s(samba.dn("changeme"), old)
        conn.modify_s(samba.dn("changeme"), password_change_modlist(Secret(new), Secret(old)))
    finally:
        conn.unbind_s()
    assert samba.can_bind("changeme", new)
    assert not samba.can_bind("changeme", old)


def test_user_change_with_a_wrong_old_password_is_refused(samba: Samba) -> None:
    name, password = "ada", PEOPLE["ada"][2]
    conn = samba.connect()
    try:
        conn.simple_bind_s(samba.dn(name), password)
        with pytest.raises(ldap.LDAPError) as caught:
            conn.modify_s(samba.dn(name), password_change_modlist(
                Secret("Never-Set-Password-1"), Secret("not-" + password)))
    finally:
        conn.unbind_s()
    assert "Never-Set-Password-1" not in str(caught.value)
    assert samba.can_bind(name, password)


def _settings(samba: Samba, method: Method) -> ConnectionSettings:
    return ConnectionSettings(host=samba.host, port=samba.ldap_port, method=method,
                              base_dn=samba.base_dn, user_key="sAMAccountName",
                              ca_pem=samba.ca_pem)


def test_plain_ldap_is_refused_before_anything_is_sent(samba: Samba) -> None:
    with pytest.raises(ProtectionRequired) as caught:
        require_protected(_settings(samba, Method.PLAIN))
    message = str(caught.value)
    assert "'Connection method'" in message and "LDAPS" in message and "StartTLS" in message


@pytest.mark.parametrize("method", [Method.LDAPS, Method.STARTTLS])
def test_protected_methods_pass(samba: Samba, method: Method) -> None:
    require_protected(_settings(samba, method))


def test_samba_itself_refuses_plain_ldap(samba: Samba) -> None:
    """Why the early refusal: over plain LDAP the DC does not even accept the bind."""
    conn = ldap.initialize(f"ldap://{samba.host}:{samba.ldap_port}")
    try:
        with pytest.raises(ldap.STRONG_AUTH_REQUIRED):
            conn.simple_bind_s(samba.dn("ada"), PEOPLE["ada"][2])
    finally:
        conn.unbind_s()

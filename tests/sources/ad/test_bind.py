"""Binding to a real Active Directory (Samba's AD DC), and reading its refusals."""

from __future__ import annotations

from dataclasses import replace

import ldap
import pytest

from keystead.secret import Secret
from keystead.sources.ldap.active_directory import ACTIVE_DIRECTORY, bind_refusal
from keystead.sources.ldap.connection import ConnectionSettings, Method, Step, check_connection

from .samba import PEOPLE, Samba

pytestmark = pytest.mark.xdist_group("samba")

STEP_NAMES = ["DNS", "TCP connect", "TLS", "Service bind", "Search", "User bind"]

#: Who gives which refusal, with the right password unless a wrong one is named.
REFUSALS = [
    ("mustchange", None, "773", "password must be changed on the directory"),
    ("locked", None, "775", "locked on the directory"),
    ("expiredpw", None, "532", "password expired on the directory"),
    ("disabled", None, "533", "account disabled on the directory"),
    ("expiredacct", None, "701", "account expired on the directory"),
    ("guesser", "not-Guesser-Password", "52e", "wrong password"),
]


def settings_for(samba: Samba, method: Method = Method.LDAPS, **changes) -> ConnectionSettings:
    port = samba.ldaps_port if method is Method.LDAPS else samba.ldap_port
    base = ConnectionSettings(host=samba.host, port=port, method=method, base_dn=samba.base_dn,
                              user_key="sAMAccountName", ca_pem=samba.ca_pem,
                              bind_dn=samba.service_dn,
                              bind_password=Secret(samba.service_password),
                              connect_timeout=3, operation_timeout=5)
    return replace(base, **changes)


def refused_bind(samba: Samba, name: str, password: str) -> ldap.LDAPError:
    conn = samba.connect()
    try:
        with pytest.raises(ldap.INVALID_CREDENTIALS) as caught:
            conn.simple_bind_s(samba.dn(name), password)
    finally:
        conn.unbind_s()
    return caught.value


@pytest.mark.parametrize("method", [Method.LDAPS, Method.STARTTLS])
@pytest.mark.parametrize("user_key", ["sAMAccountName", "userPrincipalName"])
def test_normal_user_signs_in(samba: Samba, method: Method, user_key: str) -> None:
    typed = "ada" if user_key == "sAMAccountName" else "ada" + samba.upn_suffix
    steps = check_connection(settings_for(samba, method, user_key=user_key), username=typed,
                             password=Secret(PEOPLE["ada"][2]), kind=ACTIVE_DIRECTORY)
    assert [s.name for s in steps] == STEP_NAMES
    assert all(s.ok for s in steps), steps
    assert steps[-1].message == f"Bound as {samba.dn('ada')}."


@pytest.mark.parametrize(("name", "wrong", "code", "reason"), REFUSALS)
def test_bind_refusal_reads_samba_sub_codes(samba: Samba, name: str, wrong: str | None,
                                            code: str, reason: str) -> None:
    exc = refused_bind(samba, name, wrong or PEOPLE[name][2])
    # The exact text Samba sends, as Windows does.
    assert f"AcceptSecurityContext error, data {code}, " in exc.args[0]["info"]
    refusal = bind_refusal(exc)
    assert refusal is not None
    assert (refusal.code, refusal.reason) == (code, reason)
    assert refusal.message and PEOPLE[name][2] not in refusal.message


def test_locked_account_refuses_even_the_right_password(samba: Samba) -> None:
    for password in (PEOPLE["locked"][2], "anything-else"):
        refusal = bind_refusal(refused_bind(samba, "locked", password))
        assert refusal is not None and refusal.code == "775"


@pytest.mark.parametrize(("name", "wrong", "code", "reason"), REFUSALS)
def test_check_connection_names_the_refusal(samba: Samba, name: str, wrong: str | None,
                                            code: str, reason: str) -> None:
    steps = check_connection(settings_for(samba, Method.STARTTLS), username=name,
                             password=Secret(wrong or PEOPLE[name][2]), kind=ACTIVE_DIRECTORY)
    assert [s.name for s in steps] == STEP_NAMES
    assert all(s.ok for s in steps[:-1]), steps
    last: Step = steps[-1]
    assert not last.ok
    assert reason in last.message and samba.dn(name) in last.message
    assert PEOPLE[name][2] not in last.message


def test_unknown_user_is_a_search_failure(samba: Samba) -> None:
    steps = check_connection(settings_for(samba), username="nobody-here",
                             password=Secret("whatever"), kind=ACTIVE_DIRECTORY)
    assert steps[-1].name == "Search" and not steps[-1].ok
    assert "(sAMAccountName=nobody-here)" in steps[-1].message


def test_samba_answers_an_unknown_bind_name_as_a_wrong_password(samba: Samba) -> None:
    """Windows sends 525 here; Samba sends 52e. Both read as a plain refusal."""
    conn = samba.connect()
    try:
        with pytest.raises(ldap.INVALID_CREDENTIALS) as caught:
            conn.simple_bind_s("nobody-here" + samba.upn_suffix, "whatever")
    finally:
        conn.unbind_s()
    refusal = bind_refusal(caught.value)
    assert refusal is not None and refusal.reason == "wrong password"

"""Reading AD's sub-codes from texts Samba does not send (no server needed).

Windows Server sends ``525`` for an unknown name and ``530``/``531`` for logon
hours and workstation limits, which Samba's DC does not produce over LDAP;
these texts are Windows' own, as it returns them.
"""

from __future__ import annotations

import ldap
import pytest

from keystead.sources.ldap.active_directory import bind_refusal

WINDOWS = "80090308: LdapErr: DSID-0C09042F, comment: AcceptSecurityContext error, data {}, v2580"


def refused(info: str) -> ldap.LDAPError:
    return ldap.INVALID_CREDENTIALS({"result": 49, "desc": "Invalid credentials", "info": info})


@pytest.mark.parametrize(("code", "reason"), [
    ("525", "unknown user"),
    ("530", "sign-in not permitted at this time"),
    ("531", "sign-in not permitted from this workstation"),
    ("52e", "wrong password"),
])
def test_windows_sub_codes(code: str, reason: str) -> None:
    refusal = bind_refusal(refused(WINDOWS.format(code)))
    assert refusal is not None and (refusal.code, refusal.reason) == (code, reason)


def test_upper_case_hex_is_read() -> None:
    refusal = bind_refusal(refused(WINDOWS.format("52E")))
    assert refusal is not None and refusal.code == "52e"


@pytest.mark.parametrize("info", [
    "",  # OpenLDAP says nothing
    "invalid credentials",
    WINDOWS.format("999"),  # a sub-code we do not know
    "some other text, data 775",  # not AD's wording
])
def test_anything_else_is_not_an_ad_refusal(info: str) -> None:
    assert bind_refusal(refused(info)) is None


def test_an_error_without_details() -> None:
    assert bind_refusal(ldap.SERVER_DOWN()) is None

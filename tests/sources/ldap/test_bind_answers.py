"""How an Active Directory refusal (its "data NNN" sub-code) becomes a sign-in answer.

The refusals are python-ldap's own exception objects carrying the text Samba's and
Windows' domain controllers send; tests/sources/ad signs in against a real Samba DC.
"""

from __future__ import annotations

import ldap
import pytest

from keystead.sources.ldap.connection import BindResult, _active_directory_answer

DN = "CN=Ada,CN=Users,DC=example,DC=test"


def refusal(code: str) -> ldap.INVALID_CREDENTIALS:
    return ldap.INVALID_CREDENTIALS({
        "result": 49, "desc": "Invalid credentials", "ctrls": [],
        "info": f"80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, "
                f"data {code}, v1db1"})


@pytest.mark.parametrize(("code", "result", "told"), [
    ("52e", BindResult.WRONG_PASSWORD, False),
    ("525", BindResult.REFUSED, False),
    ("775", BindResult.LOCKED, False),
    ("532", BindResult.EXPIRED, True),
    ("773", BindResult.MUST_CHANGE, True),
    ("701", BindResult.ACCOUNT_EXPIRED, True),
    ("533", BindResult.DISABLED, True),
])
def test_sub_codes(code: str, result: BindResult, told: bool) -> None:
    answer = _active_directory_answer(DN, refusal(code))
    assert answer is not None and answer.result is result
    # Only answers given to the right password are said to the person.
    assert bool(answer.person) is told and answer.password_proven is (result in {
        BindResult.EXPIRED, BindResult.MUST_CHANGE, BindResult.ACCOUNT_EXPIRED,
        BindResult.DISABLED})
    assert answer.reason


def test_openldap_refusal_is_not_read_as_active_directory() -> None:
    plain = ldap.INVALID_CREDENTIALS({"result": 49, "desc": "Invalid credentials"})
    assert _active_directory_answer(DN, plain) is None

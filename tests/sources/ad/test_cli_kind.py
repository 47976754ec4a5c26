"""``keystead ldap test --kind active_directory`` names AD's refusal against Samba."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from keystead.cli import main

from .samba import PEOPLE, Samba

pytestmark = pytest.mark.xdist_group("samba")


def run_test(samba: Samba, tmp_path, name: str, *kind: str):
    ca = tmp_path / "ca.pem"
    ca.write_text(samba.ca_pem)
    return CliRunner().invoke(main, [
        "ldap", "test", "--host", samba.host, "--port", str(samba.ldaps_port),
        "--method", "ldaps", "--ca-file", str(ca), "--base-dn", samba.base_dn,
        "--user-key", "sAMAccountName", "--bind-dn", samba.service_dn, "--username", name,
        *kind], env={"KEYSTEAD_LDAP_BIND_PASSWORD": samba.service_password,
                     "KEYSTEAD_LDAP_USER_PASSWORD": PEOPLE[name][2]})


def test_kind_active_directory_names_the_lockout(samba: Samba, tmp_path) -> None:
    result = run_test(samba, tmp_path, "locked", "--kind", "active_directory")
    assert result.exit_code == 1
    assert "FAIL User bind" in result.output
    assert "(locked on the directory)" in result.output


def test_without_kind_the_lockout_reads_as_a_wrong_password(samba: Samba, tmp_path) -> None:
    result = run_test(samba, tmp_path, "locked")
    assert result.exit_code == 1
    assert "wrong password" in result.output
    assert "(locked on the directory)" not in result.output

"""The step-by-step LDAP connection check against a real slapd."""

from __future__ import annotations

import datetime
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from keystead.cli import main
from keystead.secret import Secret
from keystead.sources.ldap.certificates import explain_refusal
from keystead.sources.ldap.connection import ConnectionSettings, Method, Step, check_connection

from .slapd import GRACE_LOGINS, PEOPLE, Slapd, free_port, make_ca, start_slapd, stop_slapd

STEP_NAMES = ["DNS", "TCP connect", "TLS", "Service bind", "Search", "User bind"]


def settings_for(slapd: Slapd, method: Method = Method.STARTTLS, **changes) -> ConnectionSettings:
    port = slapd.ldaps_port if method is Method.LDAPS else slapd.ldap_port
    base = ConnectionSettings(host=slapd.host, port=port, method=method, base_dn=slapd.base_dn,
                              ca_pem=slapd.ca_pem, bind_dn=slapd.service_dn,
                              bind_password=Secret(slapd.service_password),
                              connect_timeout=3, operation_timeout=5)
    return replace(base, **changes)


def failure(steps: list[Step]) -> Step:
    assert [s.ok for s in steps[:-1]] == [True] * (len(steps) - 1), steps
    assert not steps[-1].ok, steps
    return steps[-1]


@pytest.mark.parametrize("method", list(Method))
def test_every_method_signs_in(slapd: Slapd, method: Method) -> None:
    steps = check_connection(settings_for(slapd, method), username="ada",
                             password=Secret(PEOPLE["ada"][2]))
    assert [s.name for s in steps] == STEP_NAMES
    assert all(s.ok for s in steps), steps
    assert steps[-1].message == f"Bound as uid=ada,ou=people,{slapd.base_dn}."
    tls = steps[2].message
    assert ("in clear" in tls) if method is Method.PLAIN else ("trusted" in tls)


def test_anonymous_search_when_no_service_account(slapd: Slapd) -> None:
    steps = check_connection(settings_for(slapd, bind_dn="", bind_password=None),
                             username="alan")
    assert [s.name for s in steps] == STEP_NAMES[:5] and all(s.ok for s in steps)
    assert "anonymously" in steps[3].message


def test_unreachable_port(slapd: Slapd) -> None:
    step = failure(check_connection(settings_for(slapd, port=free_port())))
    assert step.name == "TCP connect"
    assert "connection refused" in step.message and "Check the port" in step.message


def test_unknown_host_name(slapd: Slapd) -> None:
    step = failure(check_connection(settings_for(slapd, host="no-such-host.invalid")))
    assert step.name == "DNS"
    assert "'no-such-host.invalid' could not be resolved" in step.message


@pytest.mark.parametrize("method", [Method.LDAPS, Method.STARTTLS])
def test_certificate_from_another_ca(slapd: Slapd, method: Method) -> None:
    other = make_ca("Some other CA")
    step = failure(check_connection(settings_for(slapd, method, ca_pem=other.ca_pem)))
    assert step.name == "TLS"
    assert "unknown CA" in step.message and "CN=Keystead test CA" in step.message


def test_hostname_mismatch(slapd: Slapd) -> None:
    # The certificate names localhost and 127.0.0.1; 127.0.0.2 reaches the same loopback.
    step = failure(check_connection(settings_for(slapd, Method.LDAPS, host="127.0.0.2")))
    assert step.name == "TLS"
    assert "hostname mismatch" in step.message and "127.0.0.2" in step.message


def test_expired_certificate() -> None:
    """A second slapd whose certificate expired a week ago (its CA is trusted)."""
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30)
    server = start_slapd(make_ca("Old CA", now=past))
    try:
        for method in (Method.LDAPS, Method.STARTTLS):
            step = failure(check_connection(settings_for(server, method)))
            assert step.name == "TLS"
            assert "the server's certificate expired on" in step.message
    finally:
        stop_slapd(server)


def test_certificate_check_accepts_a_valid_certificate() -> None:
    fresh = make_ca("Fresh CA")
    current = x509.load_pem_x509_certificate(fresh.cert_pem.encode())
    assert explain_refusal(current, host="localhost", ca_pem=fresh.ca_pem) is None


def test_wrong_service_password(slapd: Slapd, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "Wrong-Service-Password-55"
    caplog.set_level(logging.DEBUG)
    steps = check_connection(settings_for(slapd, bind_password=Secret(wrong)), username="ada")
    step = failure(steps)
    assert step.name == "Service bind"
    assert "wrong bind DN or password" in step.message and slapd.service_dn in step.message
    assert wrong not in repr(steps) and wrong not in caplog.text


def test_base_dn_not_found(slapd: Slapd) -> None:
    step = failure(check_connection(settings_for(slapd, base_dn="ou=nobody,dc=example,dc=test"),
                                    username="ada"))
    assert step.name == "Search" and "does not exist" in step.message


def test_user_not_found(slapd: Slapd) -> None:
    step = failure(check_connection(settings_for(slapd), username="nobody",
                                    password=Secret("whatever-1")))
    assert step.name == "Search" and "No entry" in step.message and "(uid=nobody)" in step.message


def test_several_users_match(slapd: Slapd) -> None:
    step = failure(check_connection(settings_for(slapd, user_key="mail"),
                                    username="twins@example.test"))
    assert step.name == "Search" and step.message.startswith("2 entries")


def test_wrong_user_password(slapd: Slapd, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "Not-Alans-Password-77"
    caplog.set_level(logging.DEBUG)
    steps = check_connection(settings_for(slapd), username="alan", password=Secret(wrong))
    step = failure(steps)
    assert step.name == "User bind" and "wrong password" in step.message
    assert wrong not in repr(steps) and wrong not in caplog.text


def test_locked_after_repeated_failures(slapd: Slapd) -> None:
    settings = settings_for(slapd)
    try:
        for _ in range(slapd.max_failures):
            step = failure(check_connection(settings, username="locked",
                                            password=Secret("bad-guess-1")))
            assert "wrong password" in step.message
        # Even the right password is refused once ppolicy has locked the account.
        step = failure(check_connection(settings, username="locked",
                                        password=Secret(PEOPLE["locked"][2])))
        assert step.name == "User bind" and "is locked on the directory" in step.message
    finally:
        slapd.unlock("locked")


def test_must_change_after_reset(slapd: Slapd) -> None:
    step = failure(check_connection(settings_for(slapd), username="reset",
                                    password=Secret(PEOPLE["reset"][2])))
    assert step.name == "User bind"
    assert "reset by an administrator and must be changed" in step.message


def test_grace_logins_left_are_reported(slapd: Slapd) -> None:
    steps = check_connection(settings_for(slapd), username="grace",
                             password=Secret(PEOPLE["grace"][2]))
    assert all(s.ok for s in steps) and steps[-1].name == "User bind", steps
    assert f"{GRACE_LOGINS - 1} grace sign-in(s) left" in steps[-1].message


def test_expired_password(slapd: Slapd) -> None:
    step = failure(check_connection(settings_for(slapd), username="expired",
                                    password=Secret(PEOPLE["expired"][2])))
    assert step.name == "User bind" and "has expired on the directory" in step.message


def _cli_args(slapd: Slapd, ca_file: Path, *extra: str) -> list[str]:
    return ["ldap", "test", "--host", slapd.host, "--port", str(slapd.ldaps_port),
            "--method", "ldaps", "--ca-file", str(ca_file), "--base-dn", slapd.base_dn,
            "--bind-dn", slapd.service_dn, *extra]


def test_cli_prints_every_step(slapd: Slapd, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(slapd.ca_pem)
    user_password = PEOPLE["ada"][2]
    result = CliRunner().invoke(
        main, _cli_args(slapd, ca_file, "--username", "ada"),
        input=f"{slapd.service_password}\n{user_password}\n")
    assert result.exit_code == 0, result.output
    for name in STEP_NAMES:
        assert f"ok   {name}:" in result.output
    assert "All steps passed." in result.output
    assert slapd.service_password not in result.output and user_password not in result.output


def test_cli_exits_non_zero_and_hides_the_password(slapd: Slapd, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(slapd.ca_pem)
    wrong = "Wrong-Cli-Password-31"
    result = CliRunner().invoke(main, _cli_args(slapd, ca_file),
                                env={"KEYSTEAD_LDAP_BIND_PASSWORD": wrong})
    assert result.exit_code == 1, result.output
    assert "FAIL Service bind: The directory refused the service account" in result.output
    assert wrong not in result.output


def test_cli_takes_no_password_option() -> None:
    result = CliRunner().invoke(main, ["ldap", "test", "--help"])
    assert result.exit_code == 0
    assert "--password" not in result.output and "--bind-password" not in result.output

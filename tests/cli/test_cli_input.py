"""Input every command refuses with exit status 2 and a message naming the option, before
anything reaches the database: text that is not text, and numbers out of any sensible range."""

from __future__ import annotations

import pytest

from keystead.api.models import ApiToken
from keystead.devices.models import EnrollmentToken
from keystead.directory.models import Event, User

pytestmark = pytest.mark.django_db

#: What Python makes of the bytes ``\xed\xa0\x80`` on a command line: unpaired surrogates.
NOT_UTF8 = "\udced\udca0\udc80"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["user", "list", "--search", NOT_UTF8], "--search"),
        (["user", "disable", NOT_UTF8], "EMAIL_OR_USERNAME"),
        (["user", "delete", NOT_UTF8, "--yes"], "EMAIL_OR_USERNAME"),
        (["token", "create", "--name", NOT_UTF8, "--scope", "admin"], "--name"),
        (["token", "create", "--name", "x", "--scope", "admin", "--owner", NOT_UTF8],
         "--owner"),
        (["token", "create", "--name", "a\x00b", "--scope", "admin"], "--name"),
        (["token", "revoke", NOT_UTF8], "KEY_ID"),
        (["policy", "set", "min_length=8", "--group", NOT_UTF8], "--group"),
        (["policy", "remove-group", NOT_UTF8], "NAME"),
        (["events", "--person", NOT_UTF8], "--person"),
        (["events", "--action", NOT_UTF8], "--action"),
        (["ldap", "sync", "--source", NOT_UTF8], "--source"),
        (["provision", "--system", NOT_UTF8, "--preview"], "--system"),
        (["device", "token", "--client-id", NOT_UTF8], "--client-id"),
        (["createadmin", "--email", "a@example.com", "--given-name", NOT_UTF8],
         "--given-name"),
        (["worker", "--once", "--id", NOT_UTF8], "--id"),
    ],
)
def test_text_no_column_can_store_is_refused_naming_the_option(cli, args, named):
    events = Event.objects.count()

    result = cli(*args)

    assert result.exit_code == 2, result.output
    assert f"Error: {named}: not valid text" in result.output
    assert "UTF-8" in result.output
    assert not ApiToken.objects.exists() and not EnrollmentToken.objects.exists()
    assert not User.objects.exists()
    assert Event.objects.count() == events


@pytest.mark.parametrize("command", [["events"], ["user", "list"], ["mail", "list"],
                                     ["mail", "send-pending"]])
@pytest.mark.parametrize("limit", ["99999999999999999999", "1000001"])
def test_limit_beyond_a_million_is_refused_naming_the_option(cli, command, limit):
    result = cli(*command, "--limit", limit)

    assert result.exit_code == 2, result.output
    assert "'--limit'" in result.output and "1<=x<=1000000" in result.output


def test_the_largest_limit_is_accepted(cli):
    assert cli("events", "--limit", "1000000").exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ["ldap", "test", "--host", "127.0.0.1", "--port", "1", "--base-dn", "dc=x",
         "--method", "plain", "--timeout", "nan"],
        ["worker", "--once", "--idle", "nan"],
    ],
)
def test_a_float_option_refuses_nan(cli, args):
    result = cli(*args)

    assert result.exit_code == 2, result.output
    assert "nan is not a finite number" in result.output


LDAP_TEST = ["ldap", "test", "--host", "127.0.0.1", "--port", "1", "--base-dn", "dc=x",
             "--method", "plain", "--bind-dn", "cn=reader,dc=x", "--timeout", "1"]


def test_a_prompt_asks_again_for_text_that_is_not_text(cli):
    result = cli(*LDAP_TEST, input="a\x00b\n\n")

    assert "Error: not valid text (a NUL character" in result.output
    assert result.output.count("Password of cn=reader,dc=x") == 2
    assert "Traceback" not in result.output


def test_a_password_from_the_environment_that_is_not_text_is_refused_naming_it(cli):
    result = cli(*LDAP_TEST, env={"KEYSTEAD_LDAP_BIND_PASSWORD": NOT_UTF8})

    assert result.exit_code == 2, result.output
    assert "Error: KEYSTEAD_LDAP_BIND_PASSWORD: not valid text" in result.output

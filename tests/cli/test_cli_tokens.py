"""keystead token: the printed token authenticates, only its hash is stored, revoke works."""

import hashlib

import pytest

from keystead.api.models import ApiToken
from keystead.directory.models import Event

pytestmark = pytest.mark.django_db


def issue(cli, *args: str) -> str:
    """Create a token through the command and return the last line of its output."""
    result = cli("token", "create", *args)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()[-1]


def test_create_prints_a_working_token_last(cli, admin_user):
    result = cli("token", "create", "--name", "HR sync", "--scope", "users:read",
                 "--scope", "scim", "--owner", "ROOT@example.com")

    assert result.exit_code == 0, result.output
    clear = result.stdout.splitlines()[-1]
    assert clear.startswith("kst_") and " " not in clear
    found = ApiToken.find(clear)
    assert found is not None
    assert found.name == "HR sync"
    assert found.scopes == ["users:read", "scim"]
    assert found.owner == admin_user
    assert found.expires_at is not None
    assert found.key_id in result.stdout
    # Only the hash is stored: no column holds the clear value.
    assert found.token_hash == hashlib.sha256(clear.encode()).hexdigest()
    row = ApiToken.objects.filter(pk=found.pk).values().get()
    assert all(clear not in str(value) for value in row.values())
    event = Event.objects.get(action="api_token.create")
    assert event.detail["door"] == "cli"
    assert clear not in str(event.detail)


def test_days_zero_never_expires(cli):
    result = cli("token", "create", "--name", "forever", "--scope", "admin", "--days", "0")
    assert result.exit_code == 0, result.output
    assert "Expires: never" in result.stdout
    assert ApiToken.find(result.stdout.splitlines()[-1]).expires_at is None


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--name", "x", "--scope", "nope"], "--scope"),
        (["--name", "x"], "--scope"),
        (["--name", "  ", "--scope", "admin"], "--name: Name is required"),
        (["--name", "x", "--scope", "admin", "--owner", "ghost@example.com"], "--owner"),
        (["--name", "x", "--scope", "admin", "--days", "-1"], "--days"),
        # Beyond ten years, as in the console and the API; far beyond, a date overflows.
        (["--name", "x", "--scope", "admin", "--days", "3651"], "--days: Days must be from 0"),
        (["--name", "x", "--scope", "admin", "--days", "2932896"], "--days: Days must be"),
        (["--name", "x", "--scope", "admin", "--days", "99999999999"], "--days: Days must be"),
        (["--name", "x" * 101, "--scope", "admin"], "--name: Name must be at most 100"),
    ],
)
def test_bad_input_exits_2_naming_the_option(cli, args, needle):
    result = cli("token", "create", *args)
    assert result.exit_code == 2
    assert needle in result.output
    assert not ApiToken.objects.exists()


def test_the_longest_lifetime_and_name_are_accepted(cli):
    result = cli("token", "create", "--name", "x" * 100, "--scope", "admin", "--days", "3650")
    assert result.exit_code == 0, result.output


def test_list_shows_tokens_but_never_their_value(cli):
    clear = issue(cli, "--name", "ci", "--scope", "users:read")
    token = ApiToken.find(clear)

    result = cli("token", "list")

    assert result.exit_code == 0, result.output
    assert "ci" in result.stdout
    assert token.key_id in result.stdout
    assert "active" in result.stdout
    assert clear not in result.output
    assert clear.split("_", 2)[2] not in result.output  # the secret part (may contain "_")


def test_revoke_stops_the_token(cli):
    clear = issue(cli, "--name", "ci", "--scope", "admin")
    key_id = ApiToken.find(clear).key_id

    result = cli("token", "revoke", key_id)

    assert result.exit_code == 0, result.output
    assert f"Revoked token {key_id}" in result.stdout
    assert ApiToken.find(clear) is None
    assert Event.objects.get(action="api_token.revoke").detail["door"] == "cli"
    assert "revoked" in cli("token", "list").stdout
    again = cli("token", "revoke", key_id)
    assert again.exit_code == 0
    assert "already revoked" in again.stdout
    assert Event.objects.filter(action="api_token.revoke").count() == 1


def test_revoke_unknown_id_exits_2(cli):
    result = cli("token", "revoke", "000000000000")
    assert result.exit_code == 2
    assert "keystead token list" in result.output

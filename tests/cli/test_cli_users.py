"""keystead user: list/search, and set-password through the audited service."""

import pytest

from keystead.directory.models import Event, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(admin_user):
    User.objects.create_user("ada@example.com", "Ada", "Lovelace")
    User.objects.create_user("alan@example.com", "Alan", "Turing")
    return admin_user


def test_list_and_search(cli, people):
    everyone = cli("user", "list")
    assert everyone.exit_code == 0, everyone.output
    for email in ("ada@example.com", "alan@example.com", "root@example.com"):
        assert email in everyone.stdout
    assert "superuser" in everyone.stdout

    found = cli("user", "list", "--search", "ada love")
    assert "ada@example.com" in found.stdout
    assert "alan@example.com" not in found.stdout
    assert "No users match" in cli("user", "list", "--search", "grace").output


def test_set_password_prompts_twice_and_is_audited(cli, people):
    result = cli("user", "set-password", "ADA@example.com",
                 input="first-try\nmistyped\nN3w-pass-phrase\nN3w-pass-phrase\n")

    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert "N3w-pass-phrase" not in result.output
    ada = User.objects.get(email="ada@example.com")
    assert ada.check_password("N3w-pass-phrase")
    event = Event.objects.get(action="user.password.set", target_id=str(ada.pk))
    assert event.detail == {"door": "cli"}


def test_set_password_for_unknown_user_exits_2(cli, people):
    result = cli("user", "set-password", "ghost@example.com")
    assert result.exit_code == 2
    assert "No user with email 'ghost@example.com'" in result.output

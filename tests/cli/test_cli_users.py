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

    User.objects.filter(email="alan@example.com").update(username="T1912")
    by_user_name = cli("user", "list", "--search", "t1912")
    assert "T1912" in by_user_name.stdout and "ada@example.com" not in by_user_name.stdout
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


def test_commands_find_a_person_by_user_name_too(cli, people):
    User.objects.filter(email="alan@example.com").update(username="T1912")
    result = cli("user", "disable", "t1912")
    assert result.exit_code == 0, result.output
    assert "alan@example.com is now disabled" in result.output
    assert not User.objects.get(email="alan@example.com").is_active


def test_set_password_for_unknown_user_exits_2(cli, people):
    result = cli("user", "set-password", "ghost@example.com")
    assert result.exit_code == 2
    assert "No user with email or user name 'ghost@example.com'" in result.output


def _lock(user, *, minutes=None, failures=5):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    until = now + timedelta(minutes=minutes) if minutes else None
    User.objects.filter(pk=user.pk).update(locked_at=now, locked_until=until,
                                           failed_logins=failures)


def test_unlock_says_whether_the_account_was_locked_and_is_audited(cli, people):
    ada = User.objects.get(email="ada@example.com")
    _lock(ada)
    result = cli("user", "unlock", "Ada@Example.com")
    assert result.exit_code == 0, result.output
    assert ("Unlocked ada@example.com. It had been locked after 5 failed sign-ins (until an "
            "administrator unlocks); they can sign in again now.") in result.stdout
    ada.refresh_from_db()
    assert (ada.locked_at, ada.failed_logins) == (None, 0)
    event = Event.objects.get(action="user.unlock", target_id=str(ada.pk))
    assert event.detail == {"door": "cli", "was_locked": True}

    again = cli("user", "unlock", "ada@example.com")
    assert again.exit_code == 0
    assert "ada@example.com was not locked. Nothing else changed." in again.stdout


def test_unlock_unknown_user_exits_2(cli, people):
    result = cli("user", "unlock", "ghost@example.com")
    assert result.exit_code == 2
    assert "No user with email or user name 'ghost@example.com'" in result.output


def test_list_locked(cli, people):
    assert "No account is locked." in cli("user", "list", "--locked").stdout
    _lock(User.objects.get(email="alan@example.com"), minutes=15)
    result = cli("user", "list", "--locked")
    assert "alan@example.com" in result.stdout
    assert "ada@example.com" not in result.stdout
    assert "locked until 20" in result.stdout  # a UTC timestamp follows

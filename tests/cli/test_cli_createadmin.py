"""keystead createadmin: a working one-time password, idempotent --if-none, clear errors."""

import pytest

from keystead.directory.models import Event, User

pytestmark = pytest.mark.django_db


def test_creates_superuser_with_one_time_password(cli):
    result = cli("createadmin", "--email", "Ada@Example.com", "--given-name", "Ada",
                 "--family-name", "Lovelace")

    assert result.exit_code == 0, result.output
    password = result.stdout.splitlines()[-1]
    user = User.objects.get(email="ada@example.com")
    assert user.is_staff and user.is_superuser and user.is_active
    assert user.must_change_password
    assert user.check_password(password)
    assert len(password) >= 20
    assert result.output.count(password) == 1
    assert "ada@example.com" in result.stdout
    created = Event.objects.get(action="user.create", target_id=str(user.pk))
    assert created.detail["door"] == "cli"
    assert Event.objects.filter(action="user.update", target_id=str(user.pk)).exists()


def test_a_user_name_may_be_given(cli):
    result = cli("createadmin", "--email", "ada@example.com", "--username", "root-ada",
                 "--given-name", "Ada", "--family-name", "Lovelace")
    assert result.exit_code == 0, result.output
    assert User.objects.get(email="ada@example.com").username == "root-ada"
    assert "user name root-ada" in result.stdout


def test_if_none_uses_defaults_then_does_nothing(cli):
    first = cli("createadmin", "--if-none")
    assert first.exit_code == 0, first.output
    admin = User.objects.get()
    assert (admin.email, admin.given_name, admin.family_name) == (
        "admin@example.com", "Keystead", "Administrator")
    assert admin.check_password(first.stdout.splitlines()[-1])

    second = cli("createadmin", "--if-none")
    assert second.exit_code == 0, second.output
    assert "An administrator already exists: admin@example.com" in second.stdout
    assert User.objects.count() == 1
    admin.refresh_from_db()
    assert admin.check_password(first.stdout.splitlines()[-1])


def test_if_none_reads_admin_email_from_environment(cli):
    result = cli("createadmin", "--if-none", env={"KEYSTEAD_ADMIN_EMAIL": "ops@example.org"})
    assert result.exit_code == 0, result.output
    assert User.objects.get().email == "ops@example.org"


def test_if_none_respects_an_existing_superuser(cli, admin_user):
    result = cli("createadmin", "--if-none")
    assert result.exit_code == 0
    assert "An administrator already exists: root@example.com" in result.stdout
    assert User.objects.count() == 1


def test_blank_family_name_names_the_field_and_exits_2(cli):
    result = cli("createadmin", "--email", "ada@example.com", "--given-name", "Ada",
                 "--family-name", "   ")

    assert result.exit_code == 2
    assert "--family-name" in result.output
    assert "Family name is required" in result.output
    assert "Traceback" not in result.output
    assert not User.objects.exists()
    assert not Event.objects.exists()


def test_taken_email_is_refused_cleanly(cli, admin_user):
    result = cli("createadmin", "--email", "ROOT@example.com", "--given-name", "R",
                 "--family-name", "A")
    assert result.exit_code == 2
    assert "--email: A user with this email already exists" in result.output
    assert User.objects.count() == 1

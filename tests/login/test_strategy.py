"""The login strategy setting: prerequisites refused in every door, changes audited."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from django.test import Client

from keystead.cli import main
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, Group, User
from keystead.policy.models import GroupPolicy, LogonPolicy, Strategy
from keystead.policy.strategies import NO_MAIL, strategy_prerequisites
from keystead.sources.ldap.readiness import NO_LDAP

pytestmark = pytest.mark.django_db
SETTINGS_URL = "/admin/policy/logonpolicy/1/change/"
CONSOLE_MAIL = "django.core.mail.backends.console.EmailBackend"


@pytest.fixture
def no_mail(settings):
    settings.EMAIL_BACKEND = CONSOLE_MAIL
    settings.EMAIL_CONFIGURED = False


@pytest.fixture
def mail_server(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_CONFIGURED = True


def console(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def page_values() -> dict:
    """What the settings page posts when nothing is touched."""
    from keystead.policy.changes import INSTALLATION_FIELDS

    policy = LogonPolicy.current()
    data = {}
    for name in INSTALLATION_FIELDS:
        value = getattr(policy, name)
        if isinstance(value, bool):
            if value:
                data[name] = data[f"initial-{name}"] = "on"
        else:
            data[name] = data[f"initial-{name}"] = value
    return data


def test_prerequisites_name_what_is_missing(no_mail):
    assert strategy_prerequisites(Strategy.PASSWORD) == []
    assert strategy_prerequisites(Strategy.PASSWORD_AND_SECOND_FACTOR) == [NO_MAIL]
    assert "KEYSTEAD_EMAIL_URL=smtp://" in NO_MAIL
    assert strategy_prerequisites(Strategy.LDAP) == [NO_LDAP]
    assert "SAML" in strategy_prerequisites(Strategy.SAML)[0]
    assert "choose one of" in strategy_prerequisites("kerberos")[0]


def test_prerequisites_met_with_a_mail_server(mail_server):
    assert strategy_prerequisites(Strategy.PASSWORD_AND_SECOND_FACTOR) == []


def test_console_refuses_second_factor_without_mail(no_mail, admin_user):
    response = console(admin_user).post(
        SETTINGS_URL, {**page_values(), "login_strategy": "password+2fa", "_save": "Save"})
    assert response.status_code == 200
    assert "No mail server: set KEYSTEAD_EMAIL_URL=smtp://" in response.content.decode()
    assert LogonPolicy.current().login_strategy == Strategy.PASSWORD
    assert not Event.objects.filter(action="policy.update").exists()


@pytest.mark.parametrize("strategy", ["ldap", "saml"])
def test_console_refuses_ldap_and_saml_until_configured(strategy, mail_server, admin_user):
    response = console(admin_user).post(
        SETTINGS_URL, {**page_values(), "login_strategy": strategy, "_save": "Save"})
    assert response.status_code == 200
    assert "is not configured yet" in response.content.decode()
    assert LogonPolicy.current().login_strategy == Strategy.PASSWORD


def test_console_saves_strategy_and_second_factor_settings_audited(mail_server, admin_user):
    response = console(admin_user).post(SETTINGS_URL, {
        **page_values(), "login_strategy": "password+2fa", "email_code_length": 8,
        "code_max_attempts": 3, "remember_days": 30, "_save": "Save"})
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = LogonPolicy.current()
    assert (policy.login_strategy, policy.email_code_length, policy.code_max_attempts,
            policy.remember_days) == ("password+2fa", 8, 3, 30)
    event = Event.objects.get(action="policy.update")
    assert event.detail["door"] == "admin"
    assert event.detail["changed"]["login_strategy"] == ["password", "password+2fa"]
    assert event.detail["changed"]["remember_days"] == [0, 30]


def test_console_page_shows_the_strategy_section(admin_user):
    page = console(admin_user).get(SETTINGS_URL).content.decode()
    assert "Login strategy and second factors" in page
    assert "Remember second factor for (days)" in page
    assert "browsers remembered after the change" in page


def test_console_checks_code_length_range(mail_server, admin_user):
    response = console(admin_user).post(
        SETTINGS_URL, {**page_values(), "email_code_length": 3, "_save": "Save"})
    assert response.status_code == 200
    assert LogonPolicy.current().email_code_length == 6


def test_api_refuses_second_factor_without_mail(no_mail, api):
    response = api.patch("/api/v1/policy", {"login_strategy": "password+2fa"})
    assert response.status_code == 400, response.content
    assert "No mail server" in response.content.decode()
    assert LogonPolicy.current().login_strategy == Strategy.PASSWORD


def test_api_sets_strategy_with_mail(mail_server, api):
    response = api.patch("/api/v1/policy", {"login_strategy": "password+2fa",
                                            "remember_days": 7})
    assert response.status_code == 200, response.content
    assert response.json()["login_strategy"] == "password+2fa"
    assert response.json()["remember_days"] == 7
    assert Event.objects.get(action="policy.update").detail["door"] == "api"


def test_api_refuses_strategy_on_a_group(mail_server, api):
    group = Group.objects.create(name="Administrators")
    response = api.patch(f"/api/v1/groups/{group.pk}/policy", {"login_strategy": "password"})
    assert response.status_code == 400
    assert "whole installation" in response.content.decode()


def test_api_group_can_require_second_factor(api):
    group = Group.objects.create(name="Administrators")
    response = api.patch(f"/api/v1/groups/{group.pk}/policy", {"require_second_factor": True})
    assert response.status_code == 201, response.content
    assert GroupPolicy.objects.get(group=group).require_second_factor is True
    assert response.json()["require_second_factor"] is True


def test_cli_refuses_ldap_and_no_mail(no_mail):
    runner = CliRunner()
    refused = runner.invoke(main, ["policy", "set", "login_strategy=ldap"])
    assert refused.exit_code != 0
    assert "LDAP sign-in is not configured yet: add an LDAP source first" in refused.output
    refused = runner.invoke(main, ["policy", "set", "login_strategy=password+2fa"])
    assert refused.exit_code != 0
    assert "No mail server" in refused.output
    assert LogonPolicy.current().login_strategy == Strategy.PASSWORD


def test_cli_sets_strategy_audited(mail_server):
    result = CliRunner().invoke(main, ["policy", "set", "login_strategy=password+2fa",
                                       "remember_days=5", "code_max_attempts=4"])
    assert result.exit_code == 0, result.output
    policy = LogonPolicy.current()
    assert (policy.login_strategy, policy.remember_days, policy.code_max_attempts) == (
        "password+2fa", 5, 4)
    assert Event.objects.get(action="policy.update").detail["door"] == "cli"


def test_cli_group_requires_second_factor(mail_server):
    Group.objects.create(name="Administrators")
    result = CliRunner().invoke(main, ["policy", "set", "--group", "Administrators",
                                       "require_second_factor=yes"])
    assert result.exit_code == 0, result.output
    assert GroupPolicy.objects.get(group__name="Administrators").require_second_factor


def test_a_missing_mail_server_later_does_not_block_other_changes(mail_server, settings):
    from keystead.policy import changes

    changes.update_installation_policy({"login_strategy": "password+2fa"},
                                       actor=OPERATOR, door="test")
    settings.EMAIL_BACKEND, settings.EMAIL_CONFIGURED = CONSOLE_MAIL, False
    _, changed = changes.update_installation_policy({"max_failures": 7},
                                                    actor=OPERATOR, door="test")
    assert list(changed) == ["max_failures"]


def test_group_requiring_a_factor_sends_members_to_verify(mail_server):
    from keystead.login import second_step

    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace", password="x" * 20)
    bob = User.objects.create_user("bob@example.com", "Bob", "Builder", password="x" * 20)
    admins = Group.objects.create(name="Administrators")
    admins.members.add(ada)
    GroupPolicy.objects.create(group=admins, require_second_factor=True)
    assert second_step.required_for(ada) and not second_step.required_for(bob)
